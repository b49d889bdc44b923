"""Visit booking: appointment kinds and slots per unit, bookings without double booking."""
