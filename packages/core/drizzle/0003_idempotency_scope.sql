-- Idempotency keys belong to (learner, specialization, caller). The same key
-- sent by another caller, or for another pair, is another key; before, a key
-- was global, so two callers that happened to pick the same key refused each
-- other. The learner's id leads the key, as Citus needs (0002).

ALTER TABLE "idempotency_keys" ADD COLUMN "caller" text;
--> statement-breakpoint
-- A stored key's caller is the actor of the audit row its call wrote; a key
-- without one (none should exist) is attributed to direct library use.
UPDATE "idempotency_keys" k SET "caller" = coalesce(
  (SELECT a."actor" FROM "coupler_audit_log" a
   WHERE a."user_id" = k."user_id" AND a."specialization_id" = k."specialization_id"
     AND a."idempotency_key" = k."key" AND a."operation" = k."operation"
   ORDER BY a."id" LIMIT 1),
  'system');
--> statement-breakpoint
ALTER TABLE "idempotency_keys" ALTER COLUMN "caller" SET NOT NULL;
--> statement-breakpoint
-- The name stays idempotency_keys_pkey: the coupler retries a race on it.
ALTER TABLE "idempotency_keys" DROP CONSTRAINT "idempotency_keys_pkey";
--> statement-breakpoint
ALTER TABLE "idempotency_keys" ADD CONSTRAINT "idempotency_keys_pkey" PRIMARY KEY ("user_id", "specialization_id", "caller", "key");
--> statement-breakpoint
-- The purge finds expired keys by age.
CREATE INDEX "idempotency_keys_created_at_idx" ON "idempotency_keys" USING btree ("created_at");
