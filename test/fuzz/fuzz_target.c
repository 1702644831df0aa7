/*-------------------------------------------------------------------------
 *
 * fuzz_target.c
 *	  One libFuzzer target per parser of the extension, chosen at compile
 *	  time with -DFUZZ_<NAME> (test/fuzz/Makefile.fuzz): the text input,
 *	  binary receive and aggregate deserialize functions of src/, run
 *	  outside the server on the backend stand-in of pgstub.c.
 *
 *	  Each input is handed to the function as the server would: a text
 *	  input as a NUL-terminated string, a binary one as a StringInfo, a
 *	  serialized state as a bytea.  An ERROR is fine if its SQLSTATE is one
 *	  a client can act on; an internal error (class XX) aborts, and so
 *	  does a crash or, under the sanitizers, any memory or undefined-
 *	  behaviour error.  A value the input or receive function accepts is
 *	  written out by the type's output function and read back, which must
 *	  give the same text again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "fmgr.h"
#include "lib/stringinfo.h"

#include "pgstub.h"

extern Datum summary_in(PG_FUNCTION_ARGS);
extern Datum summary_out(PG_FUNCTION_ARGS);
extern Datum summary_recv(PG_FUNCTION_ARGS);
extern Datum summary_deserialize(PG_FUNCTION_ARGS);
extern Datum rfm_in(PG_FUNCTION_ARGS);
extern Datum rfm_out(PG_FUNCTION_ARGS);
extern Datum rfm_recv(PG_FUNCTION_ARGS);
extern Datum rfm_cutpoints_in(PG_FUNCTION_ARGS);
extern Datum rfm_cutpoints_out(PG_FUNCTION_ARGS);
extern Datum rfm_cutpoints_recv(PG_FUNCTION_ARGS);
extern Datum rfm_quantiles_deserialize(PG_FUNCTION_ARGS);
extern Datum btyd_model_in(PG_FUNCTION_ARGS);
extern Datum btyd_model_out(PG_FUNCTION_ARGS);
extern Datum btyd_model_recv(PG_FUNCTION_ARGS);
extern Datum btyd_fit_deserialize(PG_FUNCTION_ARGS);
extern Datum btyd_validate_deserialize(PG_FUNCTION_ARGS);
extern Datum stage_in(PG_FUNCTION_ARGS);
extern Datum stage_out(PG_FUNCTION_ARGS);
extern Datum stage_recv(PG_FUNCTION_ARGS);
extern Datum pipeline_model_in(PG_FUNCTION_ARGS);
extern Datum pipeline_model_out(PG_FUNCTION_ARGS);
extern Datum pipeline_model_recv(PG_FUNCTION_ARGS);
extern Datum pipeline_learn_deserialize(PG_FUNCTION_ARGS);
extern Datum pipeline_forecast_deserialize(PG_FUNCTION_ARGS);

typedef enum
{
	TEXT_IN,
	BINARY_RECV,
	DESERIALIZE
} Kind;

#if defined(FUZZ_SUMMARY_IN)
#define KIND TEXT_IN
#define FN summary_in
#define OUT summary_out
#elif defined(FUZZ_SUMMARY_RECV)
#define KIND BINARY_RECV
#define FN summary_recv
#define OUT summary_out
#elif defined(FUZZ_SUMMARY_DESERIALIZE)
#define KIND DESERIALIZE
#define FN summary_deserialize
#elif defined(FUZZ_RFM_IN)
#define KIND TEXT_IN
#define FN rfm_in
#define OUT rfm_out
#elif defined(FUZZ_RFM_RECV)
#define KIND BINARY_RECV
#define FN rfm_recv
#define OUT rfm_out
#elif defined(FUZZ_RFM_CUTPOINTS_IN)
#define KIND TEXT_IN
#define FN rfm_cutpoints_in
#define OUT rfm_cutpoints_out
#elif defined(FUZZ_RFM_CUTPOINTS_RECV)
#define KIND BINARY_RECV
#define FN rfm_cutpoints_recv
#define OUT rfm_cutpoints_out
#elif defined(FUZZ_RFM_QUANTILES_DESERIALIZE)
#define KIND DESERIALIZE
#define FN rfm_quantiles_deserialize
#elif defined(FUZZ_BTYD_MODEL_IN)
#define KIND TEXT_IN
#define FN btyd_model_in
#define OUT btyd_model_out
#elif defined(FUZZ_BTYD_MODEL_RECV)
#define KIND BINARY_RECV
#define FN btyd_model_recv
#define OUT btyd_model_out
#elif defined(FUZZ_BTYD_FIT_DESERIALIZE)
#define KIND DESERIALIZE
#define FN btyd_fit_deserialize
#elif defined(FUZZ_BTYD_VALIDATE_DESERIALIZE)
#define KIND DESERIALIZE
#define FN btyd_validate_deserialize
#elif defined(FUZZ_STAGE_IN)
#define KIND TEXT_IN
#define FN stage_in
#define OUT stage_out
#elif defined(FUZZ_STAGE_RECV)
#define KIND BINARY_RECV
#define FN stage_recv
#define OUT stage_out
#elif defined(FUZZ_PIPELINE_MODEL_IN)
#define KIND TEXT_IN
#define FN pipeline_model_in
#define OUT pipeline_model_out
#elif defined(FUZZ_PIPELINE_MODEL_RECV)
#define KIND BINARY_RECV
#define FN pipeline_model_recv
#define OUT pipeline_model_out
#elif defined(FUZZ_PIPELINE_LEARN_DESERIALIZE)
#define KIND DESERIALIZE
#define FN pipeline_learn_deserialize
#elif defined(FUZZ_PIPELINE_FORECAST_DESERIALIZE)
#define KIND DESERIALIZE
#define FN pipeline_forecast_deserialize
#else
#error "define one FUZZ_<target>"
#endif

/* fn(arg) as the server calls it; false on an ERROR (whose SQLSTATE is checked) */
static bool
call1(PGFunction fn, Datum arg, int nargs, Datum *result)
{
	sigjmp_buf	jump;
	sigjmp_buf *volatile save = PG_exception_stack;
	LOCAL_FCINFO(fcinfo, 3);

	InitFunctionCallInfoData(*fcinfo, NULL, nargs, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = arg;
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = ObjectIdGetDatum(InvalidOid);
	fcinfo->args[1].isnull = false;
	fcinfo->args[2].value = Int32GetDatum(-1);
	fcinfo->args[2].isnull = false;
	if (sigsetjmp(jump, 0) != 0)
	{
		PG_exception_stack = save;
		/* class XX: an internal error, never the answer to a client's input */
		if (PGUNSIXBIT(stub_last_sqlstate) == 'X' && PGUNSIXBIT(stub_last_sqlstate >> 6) == 'X')
		{
			fprintf(stderr, "internal error (SQLSTATE class XX): %s\n", stub_last_message);
			abort();
		}
		return false;
	}
	PG_exception_stack = &jump;
	*result = fn(fcinfo);
	PG_exception_stack = save;
	return true;
}

static char *
out_text(Datum v)
{
#ifdef OUT
	Datum		s;

	if (!call1(OUT, v, 1, &s))
	{
		fprintf(stderr, "the output function failed on an accepted value: %s\n", stub_last_message);
		abort();
	}
	return DatumGetCString(s);
#else
	return NULL;
#endif
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Datum		v;
	Datum		arg;

	if (size > 1 << 20)
		return 0;
	if (KIND == TEXT_IN)
	{
		char	   *s = palloc(size + 1);

		memcpy(s, data, size);
		s[size] = '\0';
		arg = CStringGetDatum(s);
	}
	else if (KIND == BINARY_RECV)
	{
		StringInfo	buf = palloc(sizeof(StringInfoData));

		buf->data = palloc(size + 1);
		memcpy(buf->data, data, size);
		buf->data[size] = '\0';
		buf->len = size;
		buf->maxlen = size + 1;
		buf->cursor = 0;
		arg = PointerGetDatum(buf);
	}
	else
	{
		bytea	   *b = palloc(VARHDRSZ + size);

		SET_VARSIZE(b, VARHDRSZ + size);
		memcpy(VARDATA(b), data, size);
		arg = PointerGetDatum(b);
	}
	if (call1(FN, arg, KIND == DESERIALIZE ? 2 : (KIND == BINARY_RECV ? 3 : 1), &v) && KIND != DESERIALIZE)
	{
		/* accepted: its text reads back to the same value */
		char	   *text = out_text(v);
		Datum		again;

		if (text != NULL)
		{
#if defined(FUZZ_SUMMARY_IN) || defined(FUZZ_SUMMARY_RECV)
			Datum		(*in) (PG_FUNCTION_ARGS) = summary_in;
#elif defined(FUZZ_RFM_IN) || defined(FUZZ_RFM_RECV)
			Datum		(*in) (PG_FUNCTION_ARGS) = rfm_in;
#elif defined(FUZZ_RFM_CUTPOINTS_IN) || defined(FUZZ_RFM_CUTPOINTS_RECV)
			Datum		(*in) (PG_FUNCTION_ARGS) = rfm_cutpoints_in;
#elif defined(FUZZ_BTYD_MODEL_IN) || defined(FUZZ_BTYD_MODEL_RECV)
			Datum		(*in) (PG_FUNCTION_ARGS) = btyd_model_in;
#elif defined(FUZZ_STAGE_IN) || defined(FUZZ_STAGE_RECV)
			Datum		(*in) (PG_FUNCTION_ARGS) = stage_in;
#else
			Datum		(*in) (PG_FUNCTION_ARGS) = pipeline_model_in;
#endif
			if (!call1(in, CStringGetDatum(text), 1, &again))
			{
				fprintf(stderr, "output \"%s\" does not read back: %s\n", text, stub_last_message);
				abort();
			}
			if (strcmp(out_text(again), text) != 0)
			{
				fprintf(stderr, "output \"%s\" reads back as \"%s\"\n", text, out_text(again));
				abort();
			}
		}
	}
	stub_reset();
	return 0;
}
