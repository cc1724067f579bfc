"""The voice studio: a web page where content editors record a human voice for every sentence the
bot says (docs/studio.md). Mounted at /studio on the browser transport's server
(`bot.studio.app.mount_studio`).

    auth.py       editors' logins (salted scrypt hashes), sessions, failed-login throttle
    takes.py      one take: decode (PyAV), trim, loudness (BS.1770), clipping / quiet / noise flags
    wordcheck.py  does the take say the sentence? the recogniser over a phone line vs. the text
    store.py      sentences and their status, takes, accept / restore, earlier takes, audit log
    app.py        the routes, the login guard, CSRF and origin checks, the hook into the live gateway
    static/       the page (no external requests)
"""
