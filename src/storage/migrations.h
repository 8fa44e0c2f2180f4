/* migrations.h - the schema's migrations, in order: kh__migrations[i] takes
 * the database from version i to version i+1. Internal to storage. */
#ifndef KH_STORAGE_MIGRATIONS_H
#define KH_STORAGE_MIGRATIONS_H

extern const char *const kh__migrations[];
extern const int kh__migration_count;

#endif
