import type { ModuleRef } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { ClsServiceManager, ContextClsStoreMap } from 'nestjs-cls';
import type { Logger } from 'pino';
import { cancellationOf } from './request-context.js';
import type { RequestStore } from './request-context.js';
import { UnsupportedClsSetupError } from './tracing.errors.js';

// nestjs-cls's DI token for `ClsModule.forRoot()` options: a string, the same in its ESM and CommonJS builds.
const CLS_MODULE_OPTIONS = 'ClsModuleOptions';

type StoreMap = Pick<typeof ContextClsStoreMap, 'setByRaw' | 'getByRaw'>;

/** Records a request's context where nestjs-cls looks for it; see `clsStoreSharing()`. */
export type ShareWithCls = (raw: IncomingMessage, store: RequestStore) => void;

/**
 * One request, one context, when the app also mounts nestjs-cls's `ClsModule`: the request's context is
 * recorded where its guard and interceptor look for one, so they reuse it (docs/tracing.md, "Beside
 * nestjs-cls"). `undefined` when the app has no `ClsModule`: nothing to do per request.
 */
export function clsStoreSharing(moduleRef: ModuleRef): ShareWithCls | undefined {
  if (!hasClsModule(moduleRef)) return undefined;
  const maps = storeMaps();
  return (raw, store) => {
    cancellationOf(store);
    for (const map of maps) map.setByRaw(raw, store);
  };
}

/**
 * Where the request's context opens only in the module's own `onRequest` hook (no context frames: Node
 * 22, and the app set the adapter's first hook itself), a `ClsMiddleware` runs first, in a context of its
 * own: its setup sees another id, or none, and loses what it sets. Nothing shows that at start-up, so the
 * first such request writes one error line saying what to change. `undefined` when the app has no `ClsModule`.
 */
export function clsMiddlewareFirstWarning(
  moduleRef: ModuleRef,
  logger: Logger,
): ((raw: IncomingMessage) => void) | undefined {
  if (!hasClsModule(moduleRef)) return undefined;
  const maps = storeMaps();
  let warned = false;
  return (raw) => {
    const current = ClsServiceManager.getClsService().get() as object | undefined;
    if (warned || current === undefined || !maps.some((map) => map.getByRaw(raw) === current)) return;
    warned = true;
    logger.error(new UnsupportedClsSetupError().message);
  };
}

function hasClsModule(moduleRef: ModuleRef): boolean {
  try {
    moduleRef.get(CLS_MODULE_OPTIONS, { strict: false });
    return true;
  } catch {
    return false;
  }
}

/**
 * nestjs-cls ships ESM and CommonJS builds, each with its own `ContextClsStoreMap`; this package
 * imports the ESM one, and a CommonJS app that requires nestjs-cls loads the other as well.
 */
function storeMaps(): StoreMap[] {
  const require = createRequire(import.meta.url);
  const commonJs = (
    require.cache[require.resolve('nestjs-cls')]?.exports as { ContextClsStoreMap?: StoreMap } | undefined
  )?.ContextClsStoreMap;
  return commonJs === undefined || commonJs === ContextClsStoreMap
    ? [ContextClsStoreMap]
    : [ContextClsStoreMap, commonJs];
}
