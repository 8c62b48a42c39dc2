-- The classifier schema as release fdc6d0c created it on sqlite: the DDL of its create_all (Database.create_tables),
-- its models and incidents_common's outbox and inbox, captured with a mock engine. Do not edit: it is what
-- databases of that release hold, which the start-up upgrade must take over.

CREATE TABLE outbox (
    id INTEGER NOT NULL,
    event_id VARCHAR(64) NOT NULL,
    subject VARCHAR(255) NOT NULL,
    payload BLOB NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ix_outbox_event_id ON outbox (event_id);

CREATE TABLE inbox (
    consumer VARCHAR(100) NOT NULL,
    event_id VARCHAR(64) NOT NULL,
    processed_at DATETIME NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE classifications (
    post_id VARCHAR(64) NOT NULL,
    version INTEGER NOT NULL,
    model_version VARCHAR(64) NOT NULL,
    is_incident BOOLEAN NOT NULL,
    category VARCHAR(64) NOT NULL,
    urgency VARCHAR(16) NOT NULL,
    sentiment VARCHAR(16) NOT NULL,
    region_code VARCHAR(2),
    city VARCHAR(128),
    text TEXT NOT NULL,
    place_hint VARCHAR(500),
    result JSON NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (post_id, version)
);

CREATE INDEX ix_classifications_is_incident ON classifications (is_incident);

CREATE INDEX ix_classifications_region_code ON classifications (region_code);

CREATE TABLE classifier_feedback (
    id INTEGER NOT NULL,
    post_id VARCHAR(64),
    post_version INTEGER,
    text TEXT NOT NULL,
    place_hint VARCHAR(500),
    is_incident BOOLEAN NOT NULL,
    category VARCHAR(64),
    urgency VARCHAR(16) NOT NULL,
    sentiment VARCHAR(16) NOT NULL,
    region_code VARCHAR(2),
    city VARCHAR(128),
    corrected JSON NOT NULL,
    model_version VARCHAR(64),
    operator VARCHAR(128),
    comment VARCHAR(2000),
    created_at DATETIME NOT NULL,
    PRIMARY KEY (id)
);

CREATE INDEX ix_classifier_feedback_post_id ON classifier_feedback (post_id);

