#!/usr/bin/env bash
# Creates the hub's case store beside Airflow's metadata database. The postgres image runs this
# once, when it initialises an empty data volume (docker-entrypoint-initdb.d), as POSTGRES_USER.
# The store gets its own login role, so the gateway, which needs only the store, never holds
# credentials for Airflow's metadata (CASEHUB_DB_URL in docker-compose.yml logs in as that role),
# and neither database lets other roles connect.
set -euo pipefail

: "${CASEHUB_DB_PASSWORD:?set CASEHUB_DB_PASSWORD: the casehub role logs in with it}"

psql --no-psqlrc --set ON_ERROR_STOP=1 \
    --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set casehub_password="$CASEHUB_DB_PASSWORD" --set metadata_db="$POSTGRES_DB" <<'SQL'
CREATE ROLE casehub LOGIN PASSWORD :'casehub_password';
CREATE DATABASE casehub OWNER casehub ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE casehub FROM PUBLIC;
REVOKE ALL ON DATABASE :"metadata_db" FROM PUBLIC;
SQL
