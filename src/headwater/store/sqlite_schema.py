"""The schema of a new SQLite database, exactly as the migrations make it.

Written by `make schema` (headwater.store.migrate.write_sqlite_snapshot): do not
edit. A test fails when it differs from what the migrations make."""

# ruff: noqa: E501

REVISION = "0012"
TABLES = (
    "alembic_version",
    "pipelines",
    "pipeline_versions",
    "task_runs",
    "attempts",
    "workers",
    "limits",
    "limit_slots",
    "runs",
    "sensors",
    "sensor_keys",
    "notifications",
    "notification_deliveries",
    "schedules",
    "schedule_ticks",
    "backfills",
    "tasks",
)
STATEMENTS = (
    "CREATE TABLE alembic_version (\n\tversion_num VARCHAR(32) NOT NULL, \n\tCONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n)",
    "CREATE TABLE pipelines (\n\tname VARCHAR(200) NOT NULL, \n\tcurrent_version_id INTEGER, \n\torigin VARCHAR(20) NOT NULL, \n\tenabled BOOLEAN DEFAULT 1 NOT NULL, \n\tcreated_at FLOAT NOT NULL, \n\tupdated_at FLOAT NOT NULL, deleted_at FLOAT, \n\tCONSTRAINT pk_pipelines PRIMARY KEY (name)\n)",
    "CREATE TABLE pipeline_versions (\n\tid INTEGER NOT NULL, \n\tpipeline VARCHAR(200) NOT NULL, \n\tcontent_hash VARCHAR(64) NOT NULL, \n\tspec TEXT NOT NULL, \n\tcreated_at FLOAT NOT NULL, \n\tCONSTRAINT pk_pipeline_versions PRIMARY KEY (id), \n\tCONSTRAINT fk_pipeline_versions_pipeline_pipelines FOREIGN KEY(pipeline) REFERENCES pipelines (name), \n\tCONSTRAINT uq_pipeline_versions_pipeline_content_hash UNIQUE (pipeline, content_hash)\n)",
    "CREATE TABLE task_runs (\n\tid INTEGER NOT NULL, \n\trun_id VARCHAR(32) NOT NULL, \n\tnode_id VARCHAR(200) NOT NULL, \n\tmap_index INTEGER DEFAULT '-1' NOT NULL, \n\ttask VARCHAR(200) NOT NULL, \n\tstate VARCHAR(20) NOT NULL, \n\tqueue VARCHAR(100) NOT NULL, \n\tpriority INTEGER DEFAULT '0' NOT NULL, \n\tavailable_at FLOAT NOT NULL, \n\twaiting_on INTEGER NOT NULL, \n\tis_map_parent BOOLEAN DEFAULT 0 NOT NULL, \n\tattempts INTEGER DEFAULT '0' NOT NULL, \n\tmax_attempts INTEGER NOT NULL, \n\tcache_key VARCHAR(64), \n\targs TEXT, \n\toutput TEXT, \n\terror TEXT, \n\tcreated_at FLOAT NOT NULL, \n\tstarted_at FLOAT, \n\tended_at FLOAT, limit_keys TEXT DEFAULT '[]' NOT NULL, artifact BOOLEAN DEFAULT 0 NOT NULL, \n\tCONSTRAINT pk_task_runs PRIMARY KEY (id), \n\tCONSTRAINT fk_task_runs_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id), \n\tCONSTRAINT uq_task_runs_run_id_node_id_map_index UNIQUE (run_id, node_id, map_index)\n)",
    "CREATE TABLE attempts (\n\tid INTEGER NOT NULL, \n\ttask_run_id INTEGER NOT NULL, \n\trun_id VARCHAR(32) NOT NULL, \n\tnumber INTEGER NOT NULL, \n\tstate VARCHAR(20) NOT NULL, \n\tworker_id VARCHAR(64), \n\texecutor VARCHAR(20), \n\tlease_until FLOAT NOT NULL, \n\tstarted_at FLOAT NOT NULL, \n\tended_at FLOAT, \n\terror_type VARCHAR(200), \n\terror_message TEXT, \n\ttraceback TEXT, \n\tlog_label VARCHAR(300), batch VARCHAR(32), \n\tCONSTRAINT pk_attempts PRIMARY KEY (id), \n\tCONSTRAINT fk_attempts_task_run_id_task_runs FOREIGN KEY(task_run_id) REFERENCES task_runs (id)\n)",
    "CREATE TABLE workers (\n\tid VARCHAR(64) NOT NULL, \n\thost VARCHAR(200) NOT NULL, \n\tpid INTEGER NOT NULL, \n\tqueues TEXT NOT NULL, \n\tconcurrency INTEGER NOT NULL, \n\tstate VARCHAR(20) NOT NULL, \n\tstarted_at FLOAT NOT NULL, \n\theartbeat_at FLOAT NOT NULL, \n\trunning INTEGER DEFAULT '0' NOT NULL, \n\tstopped_at FLOAT, \n\tCONSTRAINT pk_workers PRIMARY KEY (id)\n)",
    'CREATE TABLE limits (\n\t"key" VARCHAR(300) NOT NULL, \n\tmax_running INTEGER NOT NULL, \n\tupdated_at FLOAT NOT NULL, \n\tCONSTRAINT pk_limits PRIMARY KEY ("key")\n)',
    'CREATE TABLE limit_slots (\n\t"key" VARCHAR(300) NOT NULL, \n\tslot INTEGER NOT NULL, \n\tattempt_id INTEGER, \n\tCONSTRAINT pk_limit_slots PRIMARY KEY ("key", slot), \n\tCONSTRAINT fk_limit_slots_key_limits FOREIGN KEY("key") REFERENCES limits ("key") ON DELETE CASCADE\n)',
    "CREATE TABLE \"runs\" (\n\tid VARCHAR(32) NOT NULL, \n\tpipeline VARCHAR(200) NOT NULL, \n\tversion_id INTEGER NOT NULL, \n\tstate VARCHAR(20) NOT NULL, \n\targs TEXT NOT NULL, \n\ttask_args TEXT NOT NULL, \n\tforce BOOLEAN DEFAULT 0 NOT NULL, \n\tresumed_from VARCHAR(32), \n\tpriority INTEGER DEFAULT '0' NOT NULL, \n\ttags TEXT DEFAULT '[]' NOT NULL, \n\tremaining INTEGER NOT NULL, \n\tcreated_at FLOAT NOT NULL, \n\tended_at FLOAT, \n\tidempotency_key VARCHAR(200), \n\trequest_hash VARCHAR(64), start_at FLOAT, expires_at FLOAT, schedule VARCHAR(200), backfill_id VARCHAR(32), logical_date FLOAT, \n\tCONSTRAINT pk_runs PRIMARY KEY (id), \n\tCONSTRAINT fk_runs_version_id_pipeline_versions FOREIGN KEY(version_id) REFERENCES pipeline_versions (id), \n\tCONSTRAINT uq_runs_idempotency_key UNIQUE (idempotency_key)\n)",
    "CREATE TABLE sensors (\n\tname VARCHAR(200) NOT NULL, \n\tkind VARCHAR(20) NOT NULL, \n\tpipeline VARCHAR(200) NOT NULL, \n\tconfig TEXT NOT NULL, \n\tsecret TEXT, \n\torigin VARCHAR(20) NOT NULL, \n\tpaused BOOLEAN DEFAULT 0 NOT NULL, \n\tcursor TEXT, \n\tnext_tick_at FLOAT DEFAULT '0' NOT NULL, \n\tlast_tick_at FLOAT, \n\tlast_error TEXT, \n\tlast_run_id VARCHAR(32), \n\tcreated_at FLOAT NOT NULL, \n\tupdated_at FLOAT NOT NULL, \n\tCONSTRAINT pk_sensors PRIMARY KEY (name)\n)",
    'CREATE TABLE sensor_keys (\n\tsensor VARCHAR(200) NOT NULL, \n\tkey_hash VARCHAR(64) NOT NULL, \n\t"key" TEXT NOT NULL, \n\trun_id VARCHAR(32), \n\tcreated_at FLOAT NOT NULL, \n\tCONSTRAINT pk_sensor_keys PRIMARY KEY (sensor, key_hash), \n\tCONSTRAINT fk_sensor_keys_sensor_sensors FOREIGN KEY(sensor) REFERENCES sensors (name) ON DELETE CASCADE\n)',
    "CREATE TABLE notifications (\n\tid INTEGER NOT NULL, \n\tname VARCHAR(200) NOT NULL, \n\tkind VARCHAR(20) NOT NULL, \n\turl TEXT, \n\temail_to TEXT, \n\tevents TEXT NOT NULL, \n\tpipeline VARCHAR(200), \n\theaders TEXT DEFAULT '{}' NOT NULL, \n\tsecret TEXT, \n\tmax_attempts INTEGER NOT NULL, \n\tbackoff_seconds FLOAT NOT NULL, \n\torigin VARCHAR(20) NOT NULL, \n\tenabled BOOLEAN DEFAULT 1 NOT NULL, \n\tcreated_at FLOAT NOT NULL, \n\tupdated_at FLOAT NOT NULL, \n\tCONSTRAINT pk_notifications PRIMARY KEY (id), \n\tCONSTRAINT uq_notifications_name UNIQUE (name)\n)",
    "CREATE TABLE notification_deliveries (\n\tid INTEGER NOT NULL, \n\tnotification_id INTEGER NOT NULL, \n\trun_id VARCHAR(32) NOT NULL, \n\tevent VARCHAR(20) NOT NULL, \n\tstate VARCHAR(20) NOT NULL, \n\tattempts INTEGER DEFAULT '0' NOT NULL, \n\tnext_attempt_at FLOAT NOT NULL, \n\tclaimed_until FLOAT, \n\tlog TEXT DEFAULT '[]' NOT NULL, \n\tcreated_at FLOAT NOT NULL, \n\tdelivered_at FLOAT, \n\tCONSTRAINT pk_notification_deliveries PRIMARY KEY (id), \n\tCONSTRAINT fk_notification_deliveries_notification_id_notifications FOREIGN KEY(notification_id) REFERENCES notifications (id) ON DELETE CASCADE\n)",
    "CREATE TABLE schedules (\n\tname VARCHAR(200) NOT NULL, \n\tpipeline VARCHAR(200) NOT NULL, \n\tcron VARCHAR(200), \n\tinterval_seconds FLOAT, \n\ttimezone VARCHAR(64) NOT NULL, \n\tstart_at FLOAT, \n\tend_at FLOAT, \n\targs TEXT NOT NULL, \n\tcatchup VARCHAR(10) NOT NULL, \n\tmax_catchup INTEGER NOT NULL, \n\tstate VARCHAR(10) NOT NULL, \n\torigin VARCHAR(20) NOT NULL, \n\tdescription TEXT NOT NULL, \n\tchecked_until FLOAT NOT NULL, \n\tnext_tick_at FLOAT, \n\tcreated_at FLOAT NOT NULL, \n\tupdated_at FLOAT NOT NULL, \n\tCONSTRAINT pk_schedules PRIMARY KEY (name)\n)",
    "CREATE TABLE schedule_ticks (\n\tschedule VARCHAR(200) NOT NULL, \n\ttick_at FLOAT NOT NULL, \n\trun_id VARCHAR(32), \n\terror TEXT, \n\tcreated_at FLOAT NOT NULL, \n\tCONSTRAINT pk_schedule_ticks PRIMARY KEY (schedule, tick_at)\n)",
    'CREATE TABLE backfills (\n\tid VARCHAR(32) NOT NULL, \n\tpipeline VARCHAR(200) NOT NULL, \n\tstate VARCHAR(20) NOT NULL, \n\tstart FLOAT NOT NULL, \n\t"end" FLOAT NOT NULL, \n\tevery VARCHAR(100) NOT NULL, \n\ttimezone VARCHAR(64) NOT NULL, \n\targs TEXT NOT NULL, \n\tmax_running INTEGER NOT NULL, \n\ttotal INTEGER NOT NULL, \n\tcreated_at FLOAT NOT NULL, \n\tended_at FLOAT, \n\tCONSTRAINT pk_backfills PRIMARY KEY (id)\n)',
    "CREATE TABLE tasks (\n\tname VARCHAR(200) NOT NULL, \n\tversion VARCHAR(100) NOT NULL, \n\tkind VARCHAR(20) NOT NULL, \n\tdefinition TEXT NOT NULL, \n\tlocation VARCHAR(500) NOT NULL, \n\tregistered_at FLOAT NOT NULL, \n\tCONSTRAINT pk_tasks PRIMARY KEY (name)\n)",
    "CREATE INDEX ix_attempts_live_leases ON attempts (lease_until) WHERE state = 'running' AND lease_until IS NOT NULL",
    "CREATE INDEX ix_attempts_run_id ON attempts (run_id)",
    "CREATE INDEX ix_attempts_task_run_id ON attempts (task_run_id)",
    "CREATE INDEX ix_notification_deliveries_notification_id_id ON notification_deliveries (notification_id, id)",
    "CREATE INDEX ix_notification_deliveries_state_next_attempt_at ON notification_deliveries (state, next_attempt_at)",
    "CREATE INDEX ix_runs_backfill_id_state ON runs (backfill_id, state)",
    "CREATE INDEX ix_runs_expires_at ON runs (expires_at)",
    "CREATE INDEX ix_runs_pipeline_created_at ON runs (pipeline, created_at)",
    "CREATE INDEX ix_runs_state_created_at ON runs (state, created_at)",
    "CREATE INDEX ix_schedules_state_next_tick_at ON schedules (state, next_tick_at)",
    "CREATE INDEX ix_task_runs_cache_key_id ON task_runs (cache_key, id) WHERE cache_key IS NOT NULL",
    "CREATE INDEX ix_task_runs_ready ON task_runs (priority DESC, id) WHERE state = 'ready'",
    "CREATE INDEX ix_task_runs_ready_by_queue ON task_runs (queue, priority DESC, id) WHERE state = 'ready'",
    "CREATE INDEX ix_task_runs_ready_by_run ON task_runs (run_id, priority DESC, id) WHERE state = 'ready'",
    "CREATE INDEX ix_workers_state_heartbeat_at ON workers (state, heartbeat_at)",
    "INSERT INTO alembic_version (version_num) VALUES ('0012')",
)
