export { SCENARIOS, selectScenarios } from './catalog.js';
export { runScenarios, runScenario, type RunOptions, type RunReport, type LabFactory } from './runner.js';
export {
  DEFAULT_PARAMS,
  type Scenario,
  type ScenarioContext,
  type ScenarioParams,
  type ScenarioResult,
  type StepRecord,
  type RunEvent,
  type LabNeeds,
  type Evidence,
} from './model.js';
export { errorClass, ScenarioFailure } from './error-class.js';
export { toJUnit } from './reports/junit.js';
export { renderConsole } from './reports/console.js';
export { outline, type ScenarioOutline, type StepOutline } from './observable.js';
export { auditMark } from './audit-mark.js';
export { htmlPage, esc, clockTime } from './reports/html-page.js';
export { runHtml } from './reports/html.js';
export { mergeRunReports, scenarioResultOf, runShardContextOf, type RunShardContext } from './reports/merge.js';
