-- The routing schema as release fdc6d0c created it on sqlite: the DDL of its create_all (Database.create_tables),
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

CREATE TABLE routing_departments (
    id VARCHAR(100) NOT NULL,
    region_code VARCHAR(2) NOT NULL,
    name VARCHAR(500) NOT NULL,
    kind VARCHAR(50) NOT NULL,
    municipality VARCHAR(200),
    email VARCHAR(200),
    phone VARCHAR(50),
    active BOOLEAN NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    PRIMARY KEY (id)
);

CREATE INDEX ix_routing_departments_region_code ON routing_departments (region_code);

CREATE TABLE routing_officials (
    id VARCHAR(100) NOT NULL,
    region_code VARCHAR(2) NOT NULL,
    department_id VARCHAR(100),
    name VARCHAR(300) NOT NULL,
    position VARCHAR(500),
    email VARCHAR(200),
    phone VARCHAR(50),
    role VARCHAR(15) NOT NULL,
    categories JSON NOT NULL,
    municipalities JSON NOT NULL,
    work_start VARCHAR(5) NOT NULL,
    work_end VARCHAR(5) NOT NULL,
    work_days JSON NOT NULL,
    timezone VARCHAR(64),
    capacity INTEGER NOT NULL,
    active BOOLEAN NOT NULL,
    on_leave BOOLEAN NOT NULL,
    assignments_total INTEGER NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    PRIMARY KEY (id)
);

CREATE INDEX ix_routing_officials_department_id ON routing_officials (department_id);

CREATE INDEX ix_routing_officials_region_code ON routing_officials (region_code);

CREATE TABLE routing_rules (
    id INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    region_code VARCHAR(2),
    category VARCHAR(50),
    municipality VARCHAR(200),
    urgency VARCHAR(20),
    department_id VARCHAR(100) NOT NULL,
    description VARCHAR(500),
    active BOOLEAN NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (id)
);

CREATE INDEX ix_routing_rules_priority ON routing_rules (priority);

CREATE INDEX ix_routing_rules_region_code ON routing_rules (region_code);

CREATE TABLE routing_sla_policies (
    id INTEGER NOT NULL,
    region_code VARCHAR(2),
    category VARCHAR(50),
    urgency VARCHAR(20),
    first_reaction_hours FLOAT NOT NULL,
    interim_days FLOAT NOT NULL,
    final_days FLOAT NOT NULL,
    description VARCHAR(500),
    created_at DATETIME NOT NULL,
    PRIMARY KEY (id)
);

CREATE INDEX ix_routing_sla_policies_region_code ON routing_sla_policies (region_code);

CREATE TABLE routing_deadlines (
    id VARCHAR(32) NOT NULL,
    incident_id VARCHAR(36) NOT NULL,
    clock VARCHAR(14) NOT NULL,
    state VARCHAR(9) NOT NULL,
    level INTEGER NOT NULL,
    started_at DATETIME NOT NULL,
    warn_at DATETIME NOT NULL,
    due_at DATETIME NOT NULL,
    working_seconds FLOAT NOT NULL,
    timezone VARCHAR(64) NOT NULL,
    policy VARCHAR(300) NOT NULL,
    warned_at DATETIME,
    closed_at DATETIME,
    PRIMARY KEY (id)
);

CREATE INDEX ix_routing_deadlines_incident_id ON routing_deadlines (incident_id);

CREATE INDEX ix_routing_deadlines_state_due ON routing_deadlines (state, due_at);

CREATE TABLE routing_incidents (
    id VARCHAR(36) NOT NULL,
    region_code VARCHAR(2) NOT NULL,
    region_name VARCHAR(200) NOT NULL,
    city VARCHAR(200),
    address VARCHAR(300),
    category VARCHAR(50) NOT NULL,
    urgency VARCHAR(20) NOT NULL,
    status VARCHAR(20) NOT NULL,
    severity INTEGER NOT NULL,
    title VARCHAR(300) NOT NULL,
    summary TEXT NOT NULL,
    origin_post_id VARCHAR(100) NOT NULL,
    post_ids JSON NOT NULL,
    author_keys JSON NOT NULL,
    complainants INTEGER NOT NULL,
    total_reach INTEGER NOT NULL,
    assignee_id VARCHAR(100),
    assignee_name VARCHAR(300),
    assignee_position VARCHAR(500),
    department_id VARCHAR(100),
    department_name VARCHAR(500),
    assignment_explanation TEXT,
    rule_id VARCHAR(20),
    federal_fallback BOOLEAN NOT NULL,
    escalation_level INTEGER NOT NULL,
    history_seq INTEGER NOT NULL,
    escalated_to_id VARCHAR(100),
    escalated_to_name VARCHAR(300),
    flagged BOOLEAN NOT NULL,
    flag_reason VARCHAR(500),
    redirect_chain JSON NOT NULL,
    reject_reason VARCHAR(1000),
    reply_text TEXT,
    reply_url VARCHAR(2000),
    interim_text TEXT,
    interim_url VARCHAR(2000),
    first_response_at DATETIME,
    first_response_due DATETIME,
    final_due DATETIME,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    last_post_at DATETIME NOT NULL,
    PRIMARY KEY (id)
);

CREATE INDEX ix_routing_incidents_assignee_id ON routing_incidents (assignee_id);

CREATE INDEX ix_routing_incidents_region_code ON routing_incidents (region_code);

CREATE INDEX ix_routing_incidents_status ON routing_incidents (status);

CREATE INDEX ix_routing_incidents_category ON routing_incidents (category);

CREATE INDEX ix_routing_incidents_cluster ON routing_incidents (region_code, category, status, last_post_at);

CREATE TABLE routing_incident_posts (
    post_id VARCHAR(100) NOT NULL,
    incident_id VARCHAR(36) NOT NULL,
    ordinal INTEGER NOT NULL,
    external_id VARCHAR(300),
    author_key VARCHAR(300) NOT NULL,
    author_name VARCHAR(500),
    url VARCHAR(2000),
    text TEXT NOT NULL,
    reach INTEGER NOT NULL,
    terms JSON NOT NULL,
    address VARCHAR(300),
    similarity FLOAT NOT NULL,
    published_at DATETIME NOT NULL,
    attached_at DATETIME NOT NULL,
    PRIMARY KEY (post_id)
);

CREATE INDEX ix_routing_incident_posts_external_id ON routing_incident_posts (external_id);

CREATE INDEX ix_routing_incident_posts_incident_id ON routing_incident_posts (incident_id);

CREATE TABLE routing_incident_history (
    id VARCHAR(32) NOT NULL,
    incident_id VARCHAR(36) NOT NULL,
    seq INTEGER NOT NULL,
    at DATETIME NOT NULL,
    actor VARCHAR(300) NOT NULL,
    action VARCHAR(50) NOT NULL,
    from_status VARCHAR(20),
    to_status VARCHAR(20),
    comment TEXT,
    PRIMARY KEY (id)
);

CREATE INDEX ix_routing_incident_history_incident_id ON routing_incident_history (incident_id);

CREATE TABLE routing_escalations (
    id INTEGER NOT NULL,
    incident_id VARCHAR(36) NOT NULL,
    level INTEGER NOT NULL,
    clock VARCHAR(20) NOT NULL,
    reason VARCHAR(1000) NOT NULL,
    escalated_to_id VARCHAR(100),
    escalated_to_name VARCHAR(300),
    at DATETIME NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_routing_escalations_incident_level UNIQUE (incident_id, level)
);

CREATE INDEX ix_routing_escalations_incident_id ON routing_escalations (incident_id);

CREATE TABLE routing_skipped_posts (
    post_id VARCHAR(100) NOT NULL,
    reason VARCHAR(300) NOT NULL,
    at DATETIME NOT NULL,
    PRIMARY KEY (post_id)
);

