export { HistoryRepository, type HistoryEntry, type HistoryRef } from './history.repository';
