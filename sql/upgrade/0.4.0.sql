-- crm 0.3.0 -> 0.4.0: changes to objects that exist in 0.3.0 (the install
-- pieces new in 0.4.0 follow this file in crm--0.3.0--0.4.0.sql; see the
-- Makefile)
\echo Use "ALTER EXTENSION crm UPDATE TO '0.4.0'" to load this file. \quit

-- ---------------------------------------------------------------------
-- crm.btyd_model: 80 fixed bytes in 0.3.0, a varlena in 0.4.0 (standard
-- errors, covariates, the calibration end).  A type's length cannot
-- change in place, so the 0.3.0 type is moved aside here as
-- crm.btyd_model_0_3, with its input and output functions (the library
-- reads and writes both forms, src/btyd.c); sql/install/40_btyd.sql then
-- creates the new type and every function, aggregate and prediction on it
-- (it is one of the pieces this script is followed by), and
-- sql/upgrade/0.4.0-finish.sql converts every stored model through its
-- text form and drops what is left of the old type.
-- ---------------------------------------------------------------------
ALTER TYPE crm.btyd_model RENAME TO btyd_model_0_3;
ALTER FUNCTION crm.btyd_model_in(cstring) RENAME TO btyd_model_0_3_in;
ALTER FUNCTION crm.btyd_model_out(crm.btyd_model_0_3) RENAME TO btyd_model_0_3_out;
ALTER FUNCTION crm.btyd_model_recv(internal) RENAME TO btyd_model_0_3_recv;
ALTER FUNCTION crm.btyd_model_send(crm.btyd_model_0_3) RENAME TO btyd_model_0_3_send;
-- the fit aggregates and their support functions are created again with
-- the same signatures: drop them now
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'crm'::regnamespace AND p.prokind = 'a'
               AND p.proname IN ('fit_bgnbd', 'fit_pareto_nbd', 'fit_mbgnbd', 'fit_gamma_gamma') LOOP
        EXECUTE pg_catalog.format('DROP AGGREGATE %s', f);
    END LOOP;
    FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'crm'::regnamespace
               AND p.proname IN ('btyd_accum', 'btyd_accum_spend', 'btyd_fit_combine', 'btyd_fit_serialize',
                                 'btyd_fit_deserialize', 'btyd_final_bgnbd', 'btyd_final_pareto_nbd',
                                 'btyd_final_mbgnbd', 'btyd_final_gamma_gamma') LOOP
        EXECUTE pg_catalog.format('DROP FUNCTION %s', f);
    END LOOP;
END $$;
