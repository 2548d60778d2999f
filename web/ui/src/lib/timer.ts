// Timers that live as long as the component that starts them.
import { onMounted, onUnmounted, ref, type Ref } from 'vue'

/** useEvery runs fn every ms while the component is mounted. */
export function useEvery(ms: number, fn: () => void) {
  let id: ReturnType<typeof setInterval> | undefined
  onMounted(() => (id = setInterval(fn, ms)))
  onUnmounted(() => clearInterval(id))
}

/** useNow is the time, ms, from clock (this browser's by default), updated every ms. */
export function useNow(ms: number, clock: () => number = Date.now): Ref<number> {
  const now = ref(clock())
  useEvery(ms, () => (now.value = clock()))
  return now
}
