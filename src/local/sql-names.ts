// A table or column name in SQL, as both SQLite and PostgreSQL read one: in double quotes,
// a double quote inside doubled.
export const quote = (name: string) => `"${name.replaceAll('"', '""')}"`
