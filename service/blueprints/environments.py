"""Routes for environments (placeholder until its issue lands)."""
from flask import Blueprint

bp = Blueprint("environments", __name__)
