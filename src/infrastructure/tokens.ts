/** Injection tokens of infrastructure-owned resources. */
export const SQL_CLIENT = Symbol('SqlClient');
export const APP_CONFIG = Symbol('AppConfig');
export const PROJECTIONS_HOST = Symbol('ProjectionsHost');
