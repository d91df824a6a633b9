import { readPair, statusProbe } from "./statusProbe.ts";
import { claims } from "./tokens.ts";
import type { Probe, ProbeTarget } from "./types.ts";

const FORBIDDEN = "403 FORBIDDEN (FORBIDDEN)";
const levelUp = (t: ProbeTarget, xpGained = 1) => ({
  userId: t.users.student,
  specialization: "PLAYER",
  xpGained,
  sessionsCompleted: 0,
});
const advance = (t: ProbeTarget) => ({
  userId: t.users.student,
  specialization: "PLAYER",
  newLevel: 1,
  reason: "probe",
});

/** `role` calling the mutation `path` with `input`. */
const mutate =
  (path: string, role: "student" | "instructor", input: (t: ProbeTarget) => unknown) => (t: ProbeTarget) => ({
    path: `/trpc/${path}`,
    token: t.token(role, role === "student" ? t.users.student : t.users.instructor),
    input: input(t),
  });

export const accessProbes: Probe[] = [
  statusProbe({
    id: "role-student-levelup",
    category: "roles",
    sends: "student calls progression.levelUp on themself",
    expect: FORBIDDEN,
    request: mutate("progression.levelUp", "student", levelUp),
  }),
  statusProbe({
    id: "role-student-reads-other",
    category: "roles",
    sends: "student reads another learner (progression.get)",
    expect: FORBIDDEN,
    request: (t) => readPair(t.users.otherStudent, t.token("student", t.users.student)),
  }),
  statusProbe({
    id: "role-student-history-other",
    category: "roles",
    sends: "student reads another learner's history",
    expect: FORBIDDEN,
    request: (t) => ({
      method: "GET",
      path: "/trpc/progression.history",
      token: t.token("student", t.users.student),
      input: { userId: t.users.otherStudent, specialization: "PLAYER" },
    }),
  }),
  statusProbe({
    id: "role-student-reads-self",
    category: "roles",
    sends: "student reads their own pair",
    expect: "200",
    request: (t) => readPair(t.users.student, t.token("student", t.users.student)),
  }),
  statusProbe({
    id: "role-student-proto-admin",
    category: "roles",
    sends: 'student levelUp with "__proto__": {"role": "admin"} in the input',
    expect: FORBIDDEN,
    request: (t) => ({
      path: "/trpc/progression.levelUp",
      token: t.token("student", t.users.student),
      body: JSON.stringify(levelUp(t)).replace("{", '{"__proto__":{"role":"admin"},'),
    }),
  }),
  statusProbe({
    id: "role-instructor-advance",
    category: "roles",
    sends: "instructor calls progression.advance",
    expect: FORBIDDEN,
    request: mutate("progression.advance", "instructor", advance),
  }),
  statusProbe({
    id: "role-instructor-enroll",
    category: "roles",
    sends: "instructor calls progression.enroll",
    expect: FORBIDDEN,
    request: mutate("progression.enroll", "instructor", (t) => ({
      userId: t.users.instructor,
      specialization: "COACH",
    })),
  }),
  statusProbe({
    id: "role-instructor-create-user",
    category: "roles",
    sends: "instructor calls users.create",
    expect: FORBIDDEN,
    request: mutate("users.create", "instructor", () => ({ name: "Mallory", email: "mallory@probes.test" })),
  }),
  statusProbe({
    id: "role-instructor-set-guard",
    category: "roles",
    sends: "instructor calls admin.setGuard",
    expect: FORBIDDEN,
    request: mutate("admin.setGuard", "instructor", () => ({ enabled: false })),
  }),
  statusProbe({
    id: "role-instructor-integrity",
    category: "roles",
    sends: "instructor calls admin.integrity",
    expect: FORBIDDEN,
    request: (t) => ({
      method: "GET",
      path: "/trpc/admin.integrity",
      token: t.token("instructor", t.users.instructor),
    }),
  }),
  statusProbe({
    id: "role-unknown-role",
    category: "roles",
    sends: 'a correctly signed token with role "superuser"',
    expect: "401 UNAUTHORIZED (UNAUTHENTICATED)",
    request: (t) =>
      readPair(t.users.student, t.forge({ claims: claims(t.users.admin, "superuser"), secret: t.authSecret })),
  }),
  statusProbe({
    id: "role-sub-not-number",
    category: "roles",
    sends: 'a correctly signed admin token with sub "admin"',
    expect: "401 UNAUTHORIZED (UNAUTHENTICATED)",
    request: (t) => readPair(t.users.student, t.forge({ claims: claims("admin", "admin"), secret: t.authSecret })),
  }),
  statusProbe({
    id: "role-sub-zero",
    category: "roles",
    sends: 'a correctly signed student token with sub "0"',
    expect: "401 UNAUTHORIZED (UNAUTHENTICATED)",
    request: (t) => readPair(t.users.student, t.forge({ claims: claims("0", "student"), secret: t.authSecret })),
  }),
];
