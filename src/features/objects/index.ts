export { ObjectsRepository, OBJECTS_SQL, type ObjectWrite } from './objects.repository';
export { WritePipeline, type WriteOutcome, type WriteRepositories } from './write-pipeline';
export {
  chooseWriteStrategy,
  procedureStrategy,
  transactionStrategy,
  PROCEDURE_SQL,
  WRITE_PROCEDURES,
  type WriteStrategy,
} from './write-strategies';
export { ObjectService } from './objects.service';
export { ObjectController } from './objects.controller';
export { objectRoutes } from './objects.routes';
