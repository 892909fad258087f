/**
 * Applies numbered, append-only SQL migrations to a Durable Object's SQLite
 * storage, in one transaction: entry i is schema version i + 1. Objects already
 * at a version skip it, so a shipped entry is never edited, only followed.
 *
 * An object already at the latest version (every wake of an existing one) only
 * reads its version: no transaction is opened, so a wake writes nothing.
 */
export function migrate(storage: DurableObjectStorage, migrations: readonly string[]): void {
  const sql = storage.sql;
  if (schemaVersion(sql) >= migrations.length) return;
  storage.transactionSync(() => {
    sql.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)");
    const version = schemaVersion(sql);
    for (let next = version + 1; next <= migrations.length; next++) {
      sql.exec(migrations[next - 1] as string);
      sql.exec("INSERT INTO schema_migrations (version) VALUES (?)", next);
    }
  });
}

/**
 * The applied version: 0 for a new object (no schema_migrations table yet). One statement
 * for an existing object, every wake's case (asking sqlite_master first was a second one);
 * a new object's read fails for want of the table, which is what says it is new.
 */
function schemaVersion(sql: SqlStorage): number {
  try {
    return sql.exec<{ v: number | null }>("SELECT MAX(version) AS v FROM schema_migrations").one().v ?? 0;
  } catch (error) {
    if (error instanceof Error && /no such table/.test(error.message)) return 0;
    throw error;
  }
}
