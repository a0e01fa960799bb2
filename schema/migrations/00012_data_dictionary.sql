-- +goose Up
-- The data dictionary (schema.Dictionary), published in the mirror: every
-- table and view, and every column of those that are not internal.
-- storage fills them when it opens the mirror, whenever they differ from
-- the dictionary of the binary that opens it.
CREATE TABLE mirror_tables (
    table_name  TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    internal    INTEGER NOT NULL,
    description TEXT NOT NULL,
    source      TEXT NOT NULL
);

CREATE TABLE mirror_columns (
    table_name  TEXT NOT NULL,
    column_name TEXT NOT NULL,
    position    INTEGER NOT NULL,
    type        TEXT NOT NULL,
    description TEXT NOT NULL,
    source      TEXT NOT NULL,
    enum_values TEXT,
    PRIMARY KEY (table_name, column_name)
);

-- +goose Down
DROP TABLE mirror_columns;
DROP TABLE mirror_tables;
