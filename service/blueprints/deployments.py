"""Routes for deployments (placeholder until its issue lands)."""
from flask import Blueprint

bp = Blueprint("deployments", __name__)
