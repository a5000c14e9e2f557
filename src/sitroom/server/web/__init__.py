"""The web pages (server-rendered, Jinja2): sign-in, sign-out, the start page, the password.

``routes`` holds the pages, ``pages`` the data each template is given,
``forms`` the reading of forms and the sign-in form's CSRF token;
``templates/`` and ``static/`` what the browser gets. No inline script or
style: the Content-Security-Policy forbids both.
"""
