/** The API's roles, weakest first: a student reads their own records, an instructor awards XP, an admin does everything. */
export const ROLES = ["student", "instructor", "admin"] as const;
export type Role = (typeof ROLES)[number];
