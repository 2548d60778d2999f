// The device's state as GET /api/device/status says it, for the header's pill.

/** DEVICE_STATES are the device's states (web/openapi.json, DeviceStatus.status). */
export const DEVICE_STATES = ['CONNECTING', 'ONLINE', 'ERROR', 'OFFLINE'] as const
export type DeviceState = (typeof DEVICE_STATES)[number]

/** DeviceStatus is the part of GET /api/device/status the UI shows. */
export interface DeviceStatus {
  device_id: string
  status: DeviceState
}
