-- The collector schema as release fdc6d0c created it on postgresql: the DDL of its create_all (Database.create_tables),
-- its models and incidents_common's outbox and inbox, captured with a mock engine. Do not edit: it is what
-- databases of that release hold, which the start-up upgrade must take over.

CREATE TABLE outbox (
    id SERIAL NOT NULL,
    event_id VARCHAR(64) NOT NULL,
    subject VARCHAR(255) NOT NULL,
    payload BYTEA NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ix_outbox_event_id ON outbox (event_id);

CREATE TABLE inbox (
    consumer VARCHAR(100) NOT NULL,
    event_id VARCHAR(64) NOT NULL,
    processed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE sources (
    id VARCHAR(36) NOT NULL,
    name VARCHAR(200) NOT NULL,
    type VARCHAR(20) NOT NULL,
    enabled BOOLEAN NOT NULL,
    interval_seconds FLOAT NOT NULL,
    settings TEXT NOT NULL,
    state VARCHAR(20) NOT NULL,
    halted BOOLEAN NOT NULL,
    last_run TIMESTAMP WITH TIME ZONE,
    last_success TIMESTAMP WITH TIME ZONE,
    last_error TEXT,
    posts_collected INTEGER NOT NULL,
    consecutive_failures INTEGER NOT NULL,
    next_run TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (id)
);

CREATE INDEX ix_sources_type ON sources (type);

CREATE INDEX ix_sources_next_run ON sources (next_run);

CREATE TABLE posts (
    id VARCHAR(36) NOT NULL,
    source_type VARCHAR(20) NOT NULL,
    external_id VARCHAR(255) NOT NULL,
    source_id VARCHAR(36),
    version INTEGER NOT NULL,
    content_hash VARCHAR(40) NOT NULL,
    url VARCHAR(2000),
    author_id VARCHAR(255),
    author_name VARCHAR(500),
    author_url VARCHAR(2000),
    author_followers INTEGER,
    text TEXT NOT NULL,
    published_at TIMESTAMP WITH TIME ZONE NOT NULL,
    collected_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    language VARCHAR(10),
    place_hints TEXT NOT NULL,
    parent_external_id VARCHAR(255),
    repost_chain TEXT NOT NULL,
    reach TEXT NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_posts_source_type_external_id UNIQUE (source_type, external_id)
);

CREATE INDEX ix_posts_source_id_collected ON posts (source_id, collected_at);

CREATE INDEX ix_posts_collected_at ON posts (collected_at);

CREATE TABLE cursors (
    source_id VARCHAR(36) NOT NULL,
    key VARCHAR(300) NOT NULL,
    value TEXT NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (source_id, key)
);

