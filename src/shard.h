/*-------------------------------------------------------------------------
 *
 * shard.h
 *	  The CRM distributed on Citus: rescoring on the shards (shard.c), for
 *	  crm.refresh() (refresh.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_SHARD_H
#define CRM_SHARD_H

/* crm.customers is a Citus distributed table here (SPI connected) */
extern bool crm_distributed(void);

/* every shard of crm.customers rescored as of day on its node (SPI connected) */
extern void crm_refresh_shards(int32 day, int64 *done, int64 *stages, int64 *levels);

#endif							/* CRM_SHARD_H */
