// The two layouts: the LCD (1280x400, landscape) and a phone (narrow, portrait).
import { onScopeDispose, ref, type Ref } from 'vue'

/** NARROW is the media query of the phone layout. */
export const NARROW = '(max-width: 700px)'

/** useMedia follows a media query; it stops listening when the component goes. */
export function useMedia(query: string): Ref<boolean> {
  const mq = typeof matchMedia === 'function' ? matchMedia(query) : null
  const matches = ref(mq?.matches ?? false)
  const update = (e: MediaQueryListEvent) => (matches.value = e.matches)
  mq?.addEventListener('change', update)
  onScopeDispose(() => mq?.removeEventListener('change', update))
  return matches
}
