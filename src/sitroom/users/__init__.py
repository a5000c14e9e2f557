"""Users: who acts. The audit and import records name registered users, not free text."""
