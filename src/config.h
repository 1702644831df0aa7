/*-------------------------------------------------------------------------
 *
 * config.h
 *	  crm's configuration as the C code reads it (config.c): the settings,
 *	  the business date, and per-backend copies of the configuration
 *	  tables, kept until a change to them invalidates the copies.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_CONFIG_H
#define CRM_CONFIG_H

#include "datatype/timestamp.h"

#include "level_kernel.h"
#include "rfm.h"
#include "stage_kernel.h"

extern int32 crm_business_date(void);
extern TimestampTz crm_change_time(void);
extern bool crm_standard_errors(void);
extern bool crm_stage_override(void);
extern const char *crm_pipeline_reopen_reason(void);
extern uint64 crm_config_generation(void);
extern const RfmCutpoints *crm_stored_cutpoints(void);
extern Datum crm_stored_model(void);
extern int32 crm_complaint_trend_days(void);
extern const char *crm_business_time_zone(void);
extern const StageThresholds *crm_stage_thresholds(void);
extern const LevelThresholds *crm_level_thresholds(void);

#endif							/* CRM_CONFIG_H */
