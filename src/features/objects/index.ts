export { ObjectsRepository, OBJECTS_SQL } from './objects.repository';
export { WritePipeline, type WriteRepositories } from './write-pipeline';
export type { ObjectWrite, WriteOutcome } from './write-model';
export {
  chooseWriteStrategy,
  procedureStrategy,
  transactionStrategy,
  PROCEDURE_SQL,
  procedureCondition,
  WRITE_PROCEDURES,
  type WriteStrategy,
} from './write-strategies';
export { WriteQueue } from './write-queue';
export { ALONE_IN_FLIGHT, PointReads } from './point-reads';
export { ReadCache } from './read-cache';
export { ObjectService, type ObjectRequest } from './objects.service';
export { KeySpaceService } from './key-space.service';
export { HistoryService } from './history.service';
export { ObjectController } from './objects.controller';
export { objectRoutes } from './objects.routes';
