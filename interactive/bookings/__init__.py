"""Table bookings requested by SMS."""
