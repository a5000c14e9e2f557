"""Users, roles, scopes and tokens: who may do what, where (issue #9).

``permissions`` names every permission and role and holds the one check,
:func:`~sitroom.auth.permissions.authorize`; ``passwords`` hashes (argon2id)
and holds the password policy; ``service`` creates users, signs them in and
manages their tokens; ``models`` holds the tables. Nothing here imports web
code: the server calls these functions.
"""
