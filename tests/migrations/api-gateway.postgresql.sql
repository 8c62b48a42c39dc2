-- The api-gateway schema as release fdc6d0c created it on postgresql: the DDL of its create_all (Database.create_tables),
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

CREATE TABLE gw_incident (
    incident_id VARCHAR NOT NULL,
    region_code VARCHAR NOT NULL,
    region_name VARCHAR NOT NULL,
    city VARCHAR,
    city_norm VARCHAR,
    category VARCHAR NOT NULL,
    urgency VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    severity INTEGER NOT NULL,
    title VARCHAR NOT NULL,
    summary VARCHAR NOT NULL,
    assignee_id VARCHAR,
    assignee_name VARCHAR,
    department_id VARCHAR,
    department_name VARCHAR,
    assignee JSON,
    assignment_explanation VARCHAR,
    post_ids JSON,
    complainants INTEGER NOT NULL,
    total_reach INTEGER NOT NULL,
    escalation_level INTEGER NOT NULL,
    escalations INTEGER NOT NULL,
    first_response_due TIMESTAMP WITHOUT TIME ZONE,
    final_due TIMESTAMP WITHOUT TIME ZONE,
    first_response_at TIMESTAMP WITHOUT TIME ZONE,
    answered_at TIMESTAMP WITHOUT TIME ZONE,
    closed_at TIMESTAMP WITHOUT TIME ZONE,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    search_text VARCHAR NOT NULL,
    PRIMARY KEY (incident_id)
);

CREATE INDEX ix_gw_incident_created_at ON gw_incident (created_at);

CREATE INDEX ix_gw_incident_category ON gw_incident (category);

CREATE INDEX ix_gw_incident_region_code ON gw_incident (region_code);

CREATE INDEX ix_gw_incident_assignee_id ON gw_incident (assignee_id);

CREATE INDEX ix_gw_incident_region_status ON gw_incident (region_code, status);

CREATE INDEX ix_gw_incident_city_norm ON gw_incident (city_norm);

CREATE INDEX ix_gw_incident_region_created ON gw_incident (region_code, created_at);

CREATE TABLE gw_incident_post (
    post_id VARCHAR NOT NULL,
    incident_id VARCHAR NOT NULL,
    PRIMARY KEY (post_id)
);

CREATE INDEX ix_gw_incident_post_incident_id ON gw_incident_post (incident_id);

CREATE TABLE gw_incident_event (
    seq SERIAL NOT NULL,
    event_id VARCHAR NOT NULL,
    incident_id VARCHAR NOT NULL,
    region_code VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    subject VARCHAR NOT NULL,
    occurred_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    actor VARCHAR,
    from_status VARCHAR,
    to_status VARCHAR,
    detail JSON,
    payload JSON,
    PRIMARY KEY (seq),
    UNIQUE (event_id)
);

CREATE INDEX ix_gw_incident_event_incident_id ON gw_incident_event (incident_id);

CREATE INDEX ix_gw_incident_event_region_code ON gw_incident_event (region_code);

CREATE TABLE gw_post (
    post_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    source_type VARCHAR NOT NULL,
    external_id VARCHAR NOT NULL,
    url VARCHAR,
    author JSON,
    text VARCHAR NOT NULL,
    published_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    reach JSON,
    place_hints JSON,
    classification JSON,
    search_text VARCHAR NOT NULL,
    PRIMARY KEY (post_id)
);

CREATE INDEX ix_gw_post_external_id ON gw_post (external_id);

CREATE TABLE gw_client (
    client_id VARCHAR(64) NOT NULL,
    name VARCHAR(200) NOT NULL,
    secret_hash VARCHAR NOT NULL,
    role VARCHAR(32) NOT NULL,
    regions JSON,
    official_id VARCHAR(64),
    active BOOLEAN NOT NULL,
    created_by VARCHAR(100),
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    revoked_at TIMESTAMP WITHOUT TIME ZONE,
    PRIMARY KEY (client_id)
);

CREATE TABLE gw_api_key (
    key_id VARCHAR(64) NOT NULL,
    key_hash VARCHAR(64) NOT NULL,
    name VARCHAR(200) NOT NULL,
    role VARCHAR(32) NOT NULL,
    regions JSON,
    official_id VARCHAR(64),
    created_by VARCHAR(100),
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    revoked_at TIMESTAMP WITHOUT TIME ZONE,
    PRIMARY KEY (key_id),
    UNIQUE (key_hash)
);

CREATE TABLE gw_revoked_token (
    jti VARCHAR(64) NOT NULL,
    expires_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    PRIMARY KEY (jti)
);

CREATE TABLE gw_webhook (
    webhook_id VARCHAR(64) NOT NULL,
    owner VARCHAR(100) NOT NULL,
    url VARCHAR NOT NULL,
    secret VARCHAR(200) NOT NULL,
    regions JSON,
    event_types JSON,
    active BOOLEAN NOT NULL,
    cursor INTEGER NOT NULL,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    PRIMARY KEY (webhook_id)
);

CREATE INDEX ix_gw_webhook_owner ON gw_webhook (owner);

CREATE TABLE gw_webhook_delivery (
    id SERIAL NOT NULL,
    webhook_id VARCHAR(64) NOT NULL,
    seq INTEGER NOT NULL,
    event_id VARCHAR(64) NOT NULL,
    status VARCHAR(16) NOT NULL,
    attempts INTEGER NOT NULL,
    last_status_code INTEGER,
    last_error VARCHAR,
    next_attempt_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    delivered_at TIMESTAMP WITHOUT TIME ZONE,
    PRIMARY KEY (id)
);

CREATE INDEX ix_gw_webhook_delivery_webhook_id ON gw_webhook_delivery (webhook_id);

CREATE INDEX ix_gw_webhook_delivery_status ON gw_webhook_delivery (status);

CREATE TABLE gw_open311_token (
    token VARCHAR(64) NOT NULL,
    external_id VARCHAR(255) NOT NULL,
    post_id VARCHAR(64),
    jurisdiction_id VARCHAR(8) NOT NULL,
    service_code VARCHAR(64) NOT NULL,
    owner VARCHAR(100) NOT NULL,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    PRIMARY KEY (token)
);

CREATE INDEX ix_gw_open311_token_external_id ON gw_open311_token (external_id);

