"""The technician's own pages: today's route and the pay of every order."""
