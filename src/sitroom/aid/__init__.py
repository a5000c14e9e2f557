"""Aid coordination (issue #12): partners, requests, offers, pledges, shipments, the
communications with each partner, and the gap that remains. See docs/aid.md."""
