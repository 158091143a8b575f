export { ChangesRepository, type Change, type ChangeType } from './changes.repository';
export { WatchersRepository } from './watchers.repository';
export { FeedHub, type FeedFollower } from './feed-hub';
export { ChangesService } from './changes.service';
export { RetentionService } from './retention.service';
export { ChangesController } from './changes.controller';
export { changesRoutes } from './changes.routes';
