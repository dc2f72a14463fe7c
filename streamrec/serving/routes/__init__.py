"""The API's routes, one resource per module; each module's ``register(app)`` adds them."""
