// Every resource of a run is named after the run id (valid as a GCE name and
// label value) so it is unique per run and recognisable by `lkrun gc gcp`.
export const RUN_LABEL = 'lkrun-run';

/** `<run id>-<suffix>`, shortened from the id's end to stay within GCE's 63 characters. */
export function resourceName(runId: string, suffix?: string): string {
  if (!suffix) return runId;
  return `${runId.slice(0, 63 - suffix.length - 1).replace(/-+$/, '')}-${suffix}`;
}

export function objectName(runId: string): string {
  return `lkrun/${runId}.img.tar.gz`;
}
