#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d):
# the review store's own role and database. Temporal's auto-setup creates its databases
# (temporal, temporal_visibility) itself with the superuser.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v store_password="$STORE_DB_PASSWORD" <<'SQL'
CREATE ROLE helpdesk_billing LOGIN PASSWORD :'store_password';
CREATE DATABASE helpdesk_billing OWNER helpdesk_billing;
SQL
