export { describeSettings, loadConfig, type SettingDoc } from './load.ts'
export { type Config, ConfigSchema, parseWeights } from './schema.ts'
