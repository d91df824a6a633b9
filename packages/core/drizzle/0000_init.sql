CREATE TABLE "coupler_audit_log" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "coupler_audit_log_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"operation" text NOT NULL,
	"user_id" integer NOT NULL,
	"specialization_id" text NOT NULL,
	"xp_delta" bigint DEFAULT 0 NOT NULL,
	"sessions_delta" integer DEFAULT 0 NOT NULL,
	"from_level" integer,
	"to_level" integer,
	"actor" text NOT NULL,
	"idempotency_key" text,
	"outcome" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "coupler_audit_log_outcome" CHECK ("coupler_audit_log"."outcome" in ('applied', 'noop'))
);
--> statement-breakpoint
CREATE TABLE "coupling_guard" (
	"id" boolean PRIMARY KEY DEFAULT true NOT NULL,
	"enabled" boolean DEFAULT false NOT NULL,
	"changed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"changed_by" text DEFAULT 'migration' NOT NULL,
	CONSTRAINT "coupling_guard_single_row" CHECK ("coupling_guard"."id")
);
--> statement-breakpoint
CREATE TABLE "idempotency_keys" (
	"key" text PRIMARY KEY NOT NULL,
	"operation" text NOT NULL,
	"user_id" integer NOT NULL,
	"specialization_id" text NOT NULL,
	"request_hash" text NOT NULL,
	"response" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "license_progressions" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "license_progressions_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"user_license_id" integer NOT NULL,
	"from_level" integer NOT NULL,
	"to_level" integer NOT NULL,
	"reason" text NOT NULL,
	"actor" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "license_progressions_level_changes" CHECK ("license_progressions"."from_level" <> "license_progressions"."to_level"),
	CONSTRAINT "license_progressions_levels_positive" CHECK ("license_progressions"."from_level" >= 1 and "license_progressions"."to_level" >= 1)
);
--> statement-breakpoint
CREATE TABLE "specialization_levels" (
	"specialization_id" text NOT NULL,
	"level" integer NOT NULL,
	"min_xp" bigint NOT NULL,
	CONSTRAINT "specialization_levels_specialization_id_level_pk" PRIMARY KEY("specialization_id","level"),
	CONSTRAINT "specialization_levels_level_positive" CHECK ("specialization_levels"."level" >= 1),
	CONSTRAINT "specialization_levels_min_xp_non_negative" CHECK ("specialization_levels"."min_xp" >= 0)
);
--> statement-breakpoint
CREATE TABLE "specialization_progress" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "specialization_progress_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"student_id" integer NOT NULL,
	"specialization_id" text NOT NULL,
	"current_level" integer DEFAULT 1 NOT NULL,
	"total_xp" bigint DEFAULT 0 NOT NULL,
	"completed_sessions" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "specialization_progress_student_specialization_key" UNIQUE("student_id","specialization_id"),
	CONSTRAINT "specialization_progress_level_positive" CHECK ("specialization_progress"."current_level" >= 1),
	CONSTRAINT "specialization_progress_total_xp_non_negative" CHECK ("specialization_progress"."total_xp" >= 0),
	CONSTRAINT "specialization_progress_sessions_non_negative" CHECK ("specialization_progress"."completed_sessions" >= 0)
);
--> statement-breakpoint
CREATE TABLE "specializations" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"max_level" integer NOT NULL,
	CONSTRAINT "specializations_max_level_positive" CHECK ("specializations"."max_level" >= 1)
);
--> statement-breakpoint
CREATE TABLE "user_licenses" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "user_licenses_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"user_id" integer NOT NULL,
	"specialization_type" text NOT NULL,
	"current_level" integer DEFAULT 1 NOT NULL,
	"max_achieved_level" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "user_licenses_user_specialization_key" UNIQUE("user_id","specialization_type"),
	CONSTRAINT "user_licenses_level_positive" CHECK ("user_licenses"."current_level" >= 1),
	CONSTRAINT "user_licenses_max_achieved_gte_current" CHECK ("user_licenses"."max_achieved_level" >= "user_licenses"."current_level")
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "users_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"name" text NOT NULL,
	"email" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "users_email_unique" UNIQUE("email")
);
--> statement-breakpoint
ALTER TABLE "license_progressions" ADD CONSTRAINT "license_progressions_user_license_id_user_licenses_id_fk" FOREIGN KEY ("user_license_id") REFERENCES "public"."user_licenses"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "specialization_levels" ADD CONSTRAINT "specialization_levels_specialization_id_specializations_id_fk" FOREIGN KEY ("specialization_id") REFERENCES "public"."specializations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "specialization_progress" ADD CONSTRAINT "specialization_progress_student_id_users_id_fk" FOREIGN KEY ("student_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "specialization_progress" ADD CONSTRAINT "specialization_progress_specialization_id_specializations_id_fk" FOREIGN KEY ("specialization_id") REFERENCES "public"."specializations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "specialization_progress" ADD CONSTRAINT "specialization_progress_level_in_range_fkey" FOREIGN KEY ("specialization_id","current_level") REFERENCES "public"."specialization_levels"("specialization_id","level") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "user_licenses" ADD CONSTRAINT "user_licenses_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "user_licenses" ADD CONSTRAINT "user_licenses_specialization_type_specializations_id_fk" FOREIGN KEY ("specialization_type") REFERENCES "public"."specializations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "user_licenses" ADD CONSTRAINT "user_licenses_level_in_range_fkey" FOREIGN KEY ("specialization_type","current_level") REFERENCES "public"."specialization_levels"("specialization_id","level") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "user_licenses" ADD CONSTRAINT "user_licenses_max_level_in_range_fkey" FOREIGN KEY ("specialization_type","max_achieved_level") REFERENCES "public"."specialization_levels"("specialization_id","level") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "coupler_audit_log_pair_idx" ON "coupler_audit_log" USING btree ("user_id","specialization_id","id");--> statement-breakpoint
CREATE INDEX "license_progressions_license_idx" ON "license_progressions" USING btree ("user_license_id","id");