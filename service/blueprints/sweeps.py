"""Routes for sweeps (placeholder until its issue lands)."""
from flask import Blueprint

bp = Blueprint("sweeps", __name__)
