
-- ---------------------------------------------------------------------
-- crm 0.3.0 -> 0.4.0, after the new pieces: every stored 0.3.0 model
-- (crm.btyd_model_0_3, see sql/upgrade/0.4.0.sql) becomes a 0.4.0
-- crm.btyd_model through its text form, which 0.4.0 reads unchanged.
-- Views of the extension that read such a column or call a function of
-- the old type (crm.customer_360 and crm.churn_watch call crm.p_alive on
-- crm.scoring.model) are dropped and made again from their own
-- definitions, with their options, owner, privileges and comments.  A
-- view of the site's own on them cannot be made again inside the
-- extension's script (it would become part of the extension): the update
-- then stops and names it.
-- ---------------------------------------------------------------------
DO $$
DECLARE
    old oid := 'crm.btyd_model_0_3'::pg_catalog.regtype;
    ext oid := (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'crm');
    views jsonb;
    v jsonb;
    item record;
    others text;
BEGIN
    -- the views on the old type, its functions or its columns, and the views on those
    WITH RECURSIVE
    old_funcs AS (SELECT p.oid FROM pg_catalog.pg_proc p
                  WHERE p.prorettype = old OR old = ANY (p.proargtypes::oid[])),
    old_cols AS (SELECT a.attrelid, a.attnum FROM pg_catalog.pg_attribute a
                 WHERE a.atttypid = old AND NOT a.attisdropped),
    rule_deps AS (SELECT r.ev_class AS view, d.refclassid, d.refobjid, d.refobjsubid
                  FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
                  WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.refobjid <> r.ev_class),
    deps(view, depth) AS (
        SELECT rd.view, 1 FROM rule_deps rd
        WHERE (rd.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass AND rd.refobjid = old)
           OR (rd.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND rd.refobjid IN (SELECT oid FROM old_funcs))
           OR (rd.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
               AND (rd.refobjid, rd.refobjsubid::smallint) IN (SELECT attrelid, attnum FROM old_cols))
        UNION
        SELECT rd.view, deps.depth + 1 FROM deps
        JOIN rule_deps rd ON rd.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND rd.refobjid = deps.view),
    dependent AS (
        SELECT cl.oid, pg_catalog.format('%I.%I', n.nspname, cl.relname) AS name, max(deps.depth) AS depth,
               pg_catalog.pg_get_viewdef(cl.oid) AS definition, cl.reloptions, cl.relacl::text[] AS acl,
               pg_catalog.pg_get_userbyid(cl.relowner) AS owner,
               pg_catalog.obj_description(cl.oid, 'pg_class') AS comment,
               (SELECT pg_catalog.jsonb_object_agg(a.attname, pg_catalog.col_description(cl.oid, a.attnum))
                FROM pg_catalog.pg_attribute a
                WHERE a.attrelid = cl.oid AND a.attnum > 0 AND pg_catalog.col_description(cl.oid, a.attnum) IS NOT NULL)
                   AS column_comments,
               EXISTS (SELECT FROM pg_catalog.pg_depend e WHERE e.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                       AND e.objid = cl.oid AND e.refobjid = ext AND e.deptype = 'e') AS member
        FROM deps JOIN pg_catalog.pg_class cl ON cl.oid = deps.view
        JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace
        GROUP BY cl.oid, n.nspname)
    SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(dependent) ORDER BY depth), pg_catalog.string_agg(name, ', ') FILTER (WHERE NOT member)
    INTO views, others FROM dependent;

    IF others IS NOT NULL THEN
        RAISE EXCEPTION 'views of your own read crm.btyd_model values: %', others
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = 'crm.btyd_model changes its storage in 0.4.0, and the views that read it must be made again.',
                  HINT = 'Drop these views, run ALTER EXTENSION crm UPDATE, and create them again.';
    END IF;

    FOR v IN SELECT e FROM pg_catalog.jsonb_array_elements(coalesce(views, '[]')) e
             ORDER BY (e->>'depth')::integer DESC LOOP
        EXECUTE pg_catalog.format('DROP VIEW %s', v->>'name');
    END LOOP;

    -- every stored model, in the extension's tables and the site's own
    FOR item IN SELECT a.attrelid::pg_catalog.regclass AS rel, a.attname
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class r ON r.oid = a.attrelid
             WHERE a.atttypid = old AND NOT a.attisdropped AND r.relkind IN ('r', 'p', 'f') LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I TYPE crm.btyd_model USING %I::text::crm.btyd_model',
                                  item.rel, item.attname, item.attname);
    END LOOP;

    FOR v IN SELECT e FROM pg_catalog.jsonb_array_elements(coalesce(views, '[]')) e
             ORDER BY (e->>'depth')::integer LOOP
        EXECUTE pg_catalog.format('CREATE VIEW %s%s AS %s', v->>'name',
                                  CASE WHEN v->'reloptions' <> 'null'
                                       THEN ' WITH (' || (SELECT pg_catalog.string_agg(o, ', ')
                                                          FROM pg_catalog.jsonb_array_elements_text(v->'reloptions') o) || ')'
                                       ELSE '' END,
                                  v->>'definition');
        EXECUTE pg_catalog.format('ALTER VIEW %s OWNER TO %I', v->>'name', v->>'owner');
        IF v->>'comment' IS NOT NULL THEN
            EXECUTE pg_catalog.format('COMMENT ON VIEW %s IS %L', v->>'name', v->>'comment');
        END IF;
        FOR item IN SELECT * FROM pg_catalog.jsonb_each_text(coalesce(v->'column_comments', '{}')) LOOP
            EXECUTE pg_catalog.format('COMMENT ON COLUMN %s.%I IS %L', v->>'name', item.key, item.value);
        END LOOP;
        FOR item IN SELECT a.grantee, a.privilege_type, a.is_grantable
                 FROM pg_catalog.aclexplode(CASE WHEN v->'acl' <> 'null'
                                                 THEN ARRAY(SELECT pg_catalog.jsonb_array_elements_text(v->'acl'))::aclitem[]
                                            END) a
                 WHERE a.grantee <> pg_catalog.to_regrole(v->>'owner') LOOP
            EXECUTE pg_catalog.format('GRANT %s ON %s TO %s%s', item.privilege_type, v->>'name',
                                      CASE WHEN item.grantee = 0 THEN 'PUBLIC'
                                           ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(item.grantee)) END,
                                      CASE WHEN item.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
        END LOOP;
    END LOOP;

    -- the old type's functions, then the type; anything else still on it
    -- (a function of the site's own) stops the update
    FOR item IN SELECT p.oid::pg_catalog.regprocedure AS f FROM pg_catalog.pg_proc p
             WHERE (p.prorettype = old OR old = ANY (p.proargtypes::oid[]))
               AND p.oid NOT IN (SELECT t.typinput FROM pg_catalog.pg_type t WHERE t.oid = old
                                 UNION ALL SELECT t.typoutput FROM pg_catalog.pg_type t WHERE t.oid = old
                                 UNION ALL SELECT t.typreceive FROM pg_catalog.pg_type t WHERE t.oid = old
                                 UNION ALL SELECT t.typsend FROM pg_catalog.pg_type t WHERE t.oid = old)
               AND EXISTS (SELECT FROM pg_catalog.pg_depend e WHERE e.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                           AND e.objid = p.oid AND e.refobjid = ext AND e.deptype = 'e') LOOP
        EXECUTE pg_catalog.format('DROP FUNCTION %s', item.f);
    END LOOP;
    SELECT pg_catalog.string_agg(pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid), ', ') INTO others
    FROM pg_catalog.pg_depend d
    WHERE d.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass AND d.refobjid = old AND d.deptype = 'n'
      AND NOT (d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
               AND d.objid IN (SELECT t.typinput FROM pg_catalog.pg_type t WHERE t.oid = old
                               UNION ALL SELECT t.typoutput FROM pg_catalog.pg_type t WHERE t.oid = old
                               UNION ALL SELECT t.typreceive FROM pg_catalog.pg_type t WHERE t.oid = old
                               UNION ALL SELECT t.typsend FROM pg_catalog.pg_type t WHERE t.oid = old))
      AND NOT (d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
               AND d.objid = (SELECT t.typarray FROM pg_catalog.pg_type t WHERE t.oid = old));
    IF others IS NOT NULL THEN
        RAISE EXCEPTION 'objects of your own use the 0.3.0 crm.btyd_model: %', others
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Drop them, run ALTER EXTENSION crm UPDATE, and create them again with crm.btyd_model.';
    END IF;
    DROP TYPE crm.btyd_model_0_3 CASCADE;
END $$;
