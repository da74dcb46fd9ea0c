-- WXYC's catalog tables as the artwork backfill sees them (PostgreSQL 13+).
--
-- Used by the tests, the benchmarks and `artwork-backfill demo`. It follows WXYC's
-- production schema: same column order, names, constraints, indexes and the write-side
-- triggers that make an UPDATE of library.artwork_url cost what it costs in prod
-- (per-row CDC pg_notify, per-statement catalog watermark). A minimal `flowsheet` table at
-- the end serves the cooperative live-DJ pause probe.
-- Load as a superuser (pg_trgm). The schema name is rewritten by the loader when
-- WXYC_SCHEMA_NAME is not wxyc_schema.

BEGIN;

CREATE EXTENSION IF NOT EXISTS pg_trgm;          -- gin_trgm_ops indexes

CREATE SCHEMA IF NOT EXISTS wxyc_schema;          -- prod name; tests override
                                                  -- via WXYC_SCHEMA_NAME

-- -----------------------------------------------------------------------------
-- 1. Lookup tables that library has NOT NULL (or nullable) FKs into
-- -----------------------------------------------------------------------------

-- 15 rows in prod, ids fixed alphabetically: 1 Africa, 2 Asia, 3 Blues,
-- 4 Classical, 5 Comedy, 6 Hiphop, 7 Jazz, 8 Latin, 9 OCS, 10 Reggae,
-- 11 Rock, 12 Soundtracks, 13 Spoken, 14 Xmas, 15 Electronic.
CREATE TABLE wxyc_schema.genres (
    id            serial       NOT NULL,
    genre_name    varchar(64)  NOT NULL,
    description   text,
    plays         integer      NOT NULL DEFAULT 0,
    add_date      date         NOT NULL DEFAULT now(),
    last_modified timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT genres_pkey PRIMARY KEY (id)
);

-- Media formats (dev seed: cd, vinyl, vinyl 12", vinyl 7", vinyl 10", cdr).
-- Note the date column is physically named add_date (Drizzle maps it to a
-- property called date_added).
CREATE TABLE wxyc_schema.format (
    id          serial   NOT NULL,
    format_name varchar  NOT NULL,               -- unbounded varchar
    add_date    date     NOT NULL DEFAULT now(),
    CONSTRAINT format_pkey PRIMARY KEY (id)
);

CREATE TABLE wxyc_schema.labels (
    id              serial        NOT NULL,
    label_name      varchar(128)  NOT NULL,
    parent_label_id integer,                      -- no FK declared
    CONSTRAINT labels_pkey PRIMARY KEY (id),
    CONSTRAINT labels_label_name_unique UNIQUE (label_name)
);

-- -----------------------------------------------------------------------------
-- 2. artists  (~120k rows in prod; ~5.7K carry a discogs_artist_id)
-- -----------------------------------------------------------------------------

-- SQL twins of the app's name normalizers (migrations 0092 / 0134). Both are
-- total over NULL (coalesce to ''), IMMUTABLE and PARALLEL SAFE so they can
-- back functional indexes.
--   normalize_artist_name: lower-case and drop ONE leading "The" + ASCII
--     whitespace (explicit POSIX class, not \s).
--   fold_artist_name: NFD-decompose, strip combining marks U+0300..U+036F,
--     lower-case (no "The" stripping).
CREATE FUNCTION wxyc_schema.normalize_artist_name(input text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT lower(regexp_replace(coalesce(input, ''), '^the[ \t\n\r\f\v]+', '', 'i'))
$fn$;

CREATE FUNCTION wxyc_schema.fold_artist_name(input text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT lower(regexp_replace(normalize(coalesce(input, ''), NFD), '[\u0300-\u036f]', '', 'g'))
$fn$;

CREATE TABLE wxyc_schema.artists (
    id                    serial        NOT NULL,
    artist_name           varchar(128)  NOT NULL,
    code_letters          varchar(4)    NOT NULL,   -- was varchar(2) until 0027
    add_date              date          NOT NULL DEFAULT now(),
    last_modified         timestamptz   NOT NULL DEFAULT now(),
    alphabetical_name     varchar(128)  NOT NULL,   -- e.g. 'Davis, Miles'
    -- Reconciled identity (0055), null-filled by the LML artist-identity ETL;
    -- all six deliberately nullable, no uniqueness.
    discogs_artist_id     integer,
    musicbrainz_artist_id varchar(64),
    wikidata_qid          varchar(32),
    spotify_artist_id     varchar(64),
    apple_music_artist_id varchar(64),
    bandcamp_id           varchar(255),
    CONSTRAINT artists_pkey PRIMARY KEY (id)
);

CREATE INDEX artist_name_trgm_idx        ON wxyc_schema.artists USING gin (artist_name gin_trgm_ops);
CREATE INDEX code_letters_idx            ON wxyc_schema.artists USING btree (code_letters);
CREATE INDEX artists_normalized_name_idx ON wxyc_schema.artists USING btree (wxyc_schema.normalize_artist_name(artist_name));
CREATE INDEX artists_fold_name_idx       ON wxyc_schema.artists USING btree (wxyc_schema.fold_artist_name(artist_name));
-- (no index on discogs_artist_id in prod)

-- -----------------------------------------------------------------------------
-- 3. library  (64,163 rows at the 2026 A.2 incident; ~64.7K later; max id ~70.5K)
-- -----------------------------------------------------------------------------

-- Backend-minted legacy ids start at 1,000,000 (tubafrenzy ids top out ~72,276).
CREATE SEQUENCE wxyc_schema.library_legacy_release_id_seq
    AS bigint INCREMENT BY 1 MINVALUE 1000000 MAXVALUE 9223372036854775807
    START WITH 1000000 CACHE 1;

CREATE TABLE wxyc_schema.library (
    id                           serial        NOT NULL,
    artist_id                    integer       NOT NULL,
    genre_id                     integer       NOT NULL,
    format_id                    integer       NOT NULL,
    alternate_artist_name        varchar(128),
    album_title                  varchar(128)  NOT NULL,
    label                        varchar(128),            -- free text; what exports read
    code_number                  smallint      NOT NULL,
    disc_quantity                smallint      NOT NULL DEFAULT 1,
    plays                        integer       NOT NULL DEFAULT 0,   -- dead counter
    add_date                     timestamptz   NOT NULL DEFAULT now(),
    last_modified                timestamptz   NOT NULL DEFAULT now(),
    -- NB: no trigger maintains last_modified; the artwork jobs do not touch it.
    code_volume_letters          varchar(4),
    label_id                     integer,
    legacy_release_id            integer       NOT NULL
        DEFAULT nextval('wxyc_schema.library_legacy_release_id_seq'::regclass),
    date_lost                    timestamptz,
    date_found                   timestamptz,
    on_streaming                 boolean,                 -- tri-state, NULL = unknown
    album_artist                 varchar(128),
    artwork_url                  varchar(512),            -- THE backfill target; NULL = unknown
    artist_name                  varchar(128),            -- denormalized from artists; may be NULL
    search_doc                   tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, coalesce(artist_name, '')), 'A')
     || setweight(to_tsvector('simple'::regconfig, coalesce(album_title, '')), 'B')
    ) STORED,                                             -- NOT recomputed by an artwork_url-only UPDATE
    canonical_entity_id          text,                    -- e.g. 'discogs:master:1374', 'discogs:release:4080'
    canonical_entity_confidence  real,
    canonical_entity_resolved_at timestamptz,
    discogs_unavailable          boolean       NOT NULL DEFAULT false,  -- MD "Not on Discogs" flag
    discogs_unavailable_note     varchar(500),
    last_discogs_recheck_at      timestamptz,
    unresolved_attempted_at      timestamptz,
    CONSTRAINT library_pkey PRIMARY KEY (id),
    CONSTRAINT library_artist_id_artists_id_fk FOREIGN KEY (artist_id)
        REFERENCES wxyc_schema.artists (id) ON DELETE NO ACTION ON UPDATE NO ACTION,
    CONSTRAINT library_genre_id_genres_id_fk FOREIGN KEY (genre_id)
        REFERENCES wxyc_schema.genres (id) ON DELETE NO ACTION ON UPDATE NO ACTION,
    CONSTRAINT library_format_id_format_id_fk FOREIGN KEY (format_id)
        REFERENCES wxyc_schema.format (id) ON DELETE NO ACTION ON UPDATE NO ACTION,
    CONSTRAINT library_label_id_labels_id_fk FOREIGN KEY (label_id)
        REFERENCES wxyc_schema.labels (id) ON DELETE NO ACTION ON UPDATE NO ACTION,
    -- A note may exist only while the row is flagged (note alive => flag alive).
    CONSTRAINT library_discogs_unavailable_note_check
        CHECK (discogs_unavailable OR discogs_unavailable_note IS NULL)
);

CREATE INDEX        title_trgm_idx                  ON wxyc_schema.library USING gin (album_title gin_trgm_ops);
CREATE INDEX        library_norm_album_title_idx    ON wxyc_schema.library USING btree (lower(TRIM(BOTH FROM coalesce(album_title, ''))));
CREATE INDEX        genre_id_idx                    ON wxyc_schema.library USING btree (genre_id);
CREATE INDEX        format_id_idx                   ON wxyc_schema.library USING btree (format_id);
CREATE INDEX        artist_id_idx                   ON wxyc_schema.library USING btree (artist_id);
CREATE UNIQUE INDEX library_legacy_release_id_idx   ON wxyc_schema.library USING btree (legacy_release_id);
CREATE INDEX        album_artist_trgm_idx           ON wxyc_schema.library USING gin (album_artist gin_trgm_ops);
CREATE INDEX        library_artist_name_trgm_idx    ON wxyc_schema.library USING gin (artist_name gin_trgm_ops);
CREATE INDEX        library_search_doc_idx          ON wxyc_schema.library USING gin (search_doc);
CREATE INDEX        library_canonical_entity_id_idx ON wxyc_schema.library USING btree (canonical_entity_id);
CREATE INDEX        library_discogs_unavailable_idx ON wxyc_schema.library USING btree (discogs_unavailable)
    WHERE discogs_unavailable = true;
-- No index covers artwork_url (an artwork-only UPDATE can be HOT if the page
-- has room). The existing job's comments suggest, if ever needed:
--   CREATE INDEX CONCURRENTLY library_artwork_pending_idx
--       ON wxyc_schema.library (id) WHERE artwork_url IS NULL;

-- -----------------------------------------------------------------------------
-- 4. Tables joined only by library_artist_view
-- -----------------------------------------------------------------------------

-- Rotation bins live in the PUBLIC schema in prod (Singles/Light/Medium/Heavy).
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                   WHERE t.typname = 'freq_enum' AND n.nspname = 'public') THEN
        CREATE TYPE public.freq_enum AS ENUM ('S', 'L', 'M', 'H');
    END IF;
END
$do$;

CREATE TYPE wxyc_schema.discogs_release_id_source_enum AS ENUM (
    'tubafrenzy_paste', 'lml_offline_backfill', 'discogs_direct_backfill',
    'library_identity', 'md_verified', 'recheck_after_unavailable');

-- (artist, genre) -> the artist's call number within that genre.
-- No primary key in prod; uniqueness via artist_genre_key.
CREATE TABLE wxyc_schema.genre_artist_crossreference (
    artist_id         integer NOT NULL,
    genre_id          integer NOT NULL,
    artist_genre_code integer NOT NULL,
    CONSTRAINT genre_artist_crossreference_artist_id_artists_id_fk FOREIGN KEY (artist_id)
        REFERENCES wxyc_schema.artists (id) ON DELETE CASCADE ON UPDATE NO ACTION,
    CONSTRAINT genre_artist_crossreference_genre_id_genres_id_fk FOREIGN KEY (genre_id)
        REFERENCES wxyc_schema.genres (id) ON DELETE CASCADE ON UPDATE NO ACTION
);
CREATE UNIQUE INDEX artist_genre_key ON wxyc_schema.genre_artist_crossreference USING btree (artist_id, genre_id);

CREATE TABLE wxyc_schema.rotation (
    id                                      serial        NOT NULL,
    album_id                                integer,
    rotation_bin                            public.freq_enum NOT NULL,
    add_date                                date          NOT NULL DEFAULT now(),
    kill_date                               date,
    legacy_rotation_id                      integer,
    legacy_library_release_id               integer,
    artist_name                             varchar(128),
    album_title                             varchar(128),
    record_label                            varchar(128),
    discogs_release_id                      integer,
    discogs_release_id_source               wxyc_schema.discogs_release_id_source_enum NOT NULL
        DEFAULT 'tubafrenzy_paste',
    discogs_release_id_resolve_attempted_at timestamptz,
    tracklist_lookup_attempted_at           timestamptz,
    lml_identity_id                         integer,
    CONSTRAINT rotation_pkey PRIMARY KEY (id),
    CONSTRAINT rotation_album_id_library_id_fk FOREIGN KEY (album_id)
        REFERENCES wxyc_schema.library (id) ON DELETE CASCADE ON UPDATE NO ACTION,
    CONSTRAINT rotation_discogs_release_id_not_sentinel
        CHECK (discogs_release_id IS NULL OR discogs_release_id > 0)
);
-- (physical column order of prod rotation not reconstructed; name columns)
CREATE INDEX        album_id_idx                    ON wxyc_schema.rotation USING btree (album_id);
CREATE UNIQUE INDEX rotation_legacy_rotation_id_idx ON wxyc_schema.rotation USING btree (legacy_rotation_id);
CREATE INDEX        rotation_norm_artist_album_idx  ON wxyc_schema.rotation USING btree (
    lower(TRIM(BOTH FROM coalesce(artist_name, ''))), lower(TRIM(BOTH FROM coalesce(album_title, ''))));

-- The catalog read model (current shape = migration 0133). INNER joins mean a
-- library row with no matching (artist_id, genre_id) crossreference row is
-- invisible here — select backfill candidates from the base tables instead.
-- Note the 3rd column is named artist_genre_code (the app aliases it to
-- code_artist_number only in TypeScript).
CREATE VIEW wxyc_schema.library_artist_view AS
SELECT l.id,
       a.code_letters,
       gac.artist_genre_code,
       l.code_number,
       a.artist_name,
       a.alphabetical_name,
       l.album_title,
       f.format_name,
       g.genre_name,
       r.rotation_bin,
       l.add_date,
       l.label,
       l.label_id,
       l.on_streaming,
       l.album_artist,
       l.plays,
       l.artwork_url,
       a.discogs_artist_id,
       a.musicbrainz_artist_id,
       a.wikidata_qid,
       a.spotify_artist_id,
       a.apple_music_artist_id,
       a.bandcamp_id,
       l.artist_id,
       l.discogs_unavailable,
       l.discogs_unavailable_note,
       l.last_discogs_recheck_at
FROM wxyc_schema.library l
JOIN wxyc_schema.artists a  ON a.id = l.artist_id
JOIN wxyc_schema.format  f  ON f.id = l.format_id
JOIN wxyc_schema.genres  g  ON g.id = l.genre_id
JOIN wxyc_schema.genre_artist_crossreference gac
     ON gac.artist_id = l.artist_id AND gac.genre_id = l.genre_id
LEFT JOIN wxyc_schema.rotation r
     ON r.album_id = l.id AND (r.kill_date > CURRENT_DATE OR r.kill_date IS NULL);

-- -----------------------------------------------------------------------------
-- 5. Write side effects that exist in prod (simplified re-implementations)
-- -----------------------------------------------------------------------------

-- 5a. Catalog freshness watermark: one row, advanced monotonically once per
-- STATEMENT (GREATEST(now(), previous) — now() is frozen per transaction).
CREATE TABLE wxyc_schema.library_watermark (
    id               boolean     NOT NULL DEFAULT true,
    last_modified_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT library_watermark_pkey PRIMARY KEY (id),
    CONSTRAINT library_watermark_singleton CHECK (id = true)
);
INSERT INTO wxyc_schema.library_watermark (id, last_modified_at) VALUES (true, now());

CREATE FUNCTION wxyc_schema.touch_library_watermark() RETURNS trigger
    LANGUAGE plpgsql
AS $fn$
BEGIN
    UPDATE wxyc_schema.library_watermark
       SET last_modified_at = GREATEST(now(), last_modified_at)
     WHERE id;
    RETURN NULL;
END
$fn$;

-- Same column list as prod (migration 0142). artwork_url IS in it.
CREATE TRIGGER touch_library_watermark
    AFTER INSERT
       OR UPDATE OF id, legacy_release_id, artist_id, genre_id, format_id,
                    alternate_artist_name, album_artist, album_title, label,
                    code_number, on_streaming, artwork_url, artist_name,
                    canonical_entity_id
       OR DELETE OR TRUNCATE
    ON wxyc_schema.library
    FOR EACH STATEMENT EXECUTE FUNCTION wxyc_schema.touch_library_watermark();

-- (prod also hangs the same statement trigger on artists, genres, format,
--  genre_artist_crossreference, rotation, artist_crossreference and
--  compilation_track_artist — omitted.)

-- 5b. CDC: prod fires pg_notify('cdc', {table, schema, action, data: full row,
-- timestamp}) AFTER each row INSERT/UPDATE/DELETE on library and artists
-- (and ~20 other tables); payloads over ~7800 bytes go to channel
-- 'cdc_oversized' with only the primary key, and failures to 'cdc_error'.
-- The function lives in the default (public) schema in prod. Minimal
-- equivalent, good enough to reproduce per-row cost and NOTIFY volume:
CREATE FUNCTION public.cdc_notify() RETURNS trigger
    LANGUAGE plpgsql
AS $fn$
DECLARE
    rec  jsonb := CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END;
    body text;
BEGIN
    body := jsonb_build_object('table', TG_TABLE_NAME, 'schema', TG_TABLE_SCHEMA,
                               'action', TG_OP, 'data', rec,
                               'timestamp', floor(extract(epoch FROM clock_timestamp()) * 1000))::text;
    IF octet_length(body) > 7800 THEN
        PERFORM pg_notify('cdc_oversized',
                          jsonb_build_object('table', TG_TABLE_NAME, 'action', TG_OP,
                                             'primary_key', rec ->> 'id',
                                             'reason', 'payload_too_large')::text);
    ELSE
        PERFORM pg_notify('cdc', body);
    END IF;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'cdc_notify failed on %: %', TG_TABLE_NAME, SQLERRM;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER cdc_library AFTER INSERT OR UPDATE OR DELETE ON wxyc_schema.library
    FOR EACH ROW EXECUTE FUNCTION public.cdc_notify();
CREATE TRIGGER cdc_artists AFTER INSERT OR UPDATE OR DELETE ON wxyc_schema.artists
    FOR EACH ROW EXECUTE FUNCTION public.cdc_notify();

-- 5c. Renaming an artist rewrites library.artist_name for that artist's rows
-- (only when the name actually changes). Irrelevant to artwork writes, kept
-- for fidelity.
CREATE FUNCTION wxyc_schema.cascade_library_artist_name() RETURNS trigger
    LANGUAGE plpgsql
AS $fn$
BEGIN
    UPDATE wxyc_schema.library
       SET artist_name = NEW.artist_name
     WHERE artist_id = NEW.id
       AND artist_name IS DISTINCT FROM NEW.artist_name;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER cascade_library_artist_name
    AFTER UPDATE OF artist_name ON wxyc_schema.artists
    FOR EACH ROW
    WHEN (OLD.artist_name IS DISTINCT FROM NEW.artist_name)
    EXECUTE FUNCTION wxyc_schema.cascade_library_artist_name();

-- -----------------------------------------------------------------------------
-- 6. flowsheet (reduced to what the live-DJ probe reads)
-- -----------------------------------------------------------------------------
CREATE TABLE wxyc_schema.flowsheet (
    id         serial      NOT NULL,
    entry_type varchar(16) NOT NULL DEFAULT 'track',
    add_time   timestamptz NOT NULL DEFAULT now(),
    artist_name varchar(128),
    track_title varchar(128),
    CONSTRAINT flowsheet_pkey PRIMARY KEY (id)
);
CREATE INDEX flowsheet_track_add_time_idx ON wxyc_schema.flowsheet USING btree (add_time)
    WHERE entry_type = 'track';

COMMIT;
