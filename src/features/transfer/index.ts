export { TransferService } from './transfer.service';
export { TransferController } from './transfer.controller';
export { transferRoutes } from './transfer.routes';
