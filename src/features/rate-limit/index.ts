export { LimiterStore, serveLimitsToWorkers } from './limiter-store';
export { TenantRateLimits } from './tenant-rate-limit';
export { LoginThrottle } from './login-throttle';
