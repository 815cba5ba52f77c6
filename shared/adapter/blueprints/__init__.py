"""Function blueprints, one per area; function_app.py registers them all."""
