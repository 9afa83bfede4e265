-- One database per service (run once by the postgres image on an empty data directory).
-- Each service owns its database and its Alembic history; none reads another's tables.
CREATE DATABASE registry;
CREATE DATABASE checkin;
CREATE DATABASE notifications;
