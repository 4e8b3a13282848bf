/** URLs and e-mail addresses named in a text. */
export function linksIn(text: string): { urls: string[]; addresses: string[] } {
  const urls = [...text.matchAll(/\b(?:https?|ftp):\/\/[^\s<>"')\]]+/gi)].map((m) => m[0].replace(/[.,;:!?]+$/, ''));
  const withoutUrls = text.replace(/\b(?:https?|ftp):\/\/[^\s<>"')\]]+/gi, ' ');
  const addresses = [...withoutUrls.matchAll(/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g)].map((m) => m[0].toLowerCase());
  // Bare domains such as "evil.example/reset" are links too, for a reader of the reply.
  const bare = [...withoutUrls.replace(/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+/g, ' ').matchAll(/\b(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,24}\b(?:\/[^\s]*)?/gi)].map((m) => m[0].replace(/[.,;:!?]+$/, ''));
  return { urls: [...new Set([...urls, ...bare])], addresses: [...new Set(addresses)] };
}

/**
 * The links and addresses of a drafted reply that its trusted inputs do not name. A non-empty
 * answer parks the reply for a human: an injection must not turn our reply into phishing.
 */
export function disallowedLinks(
  draft: string,
  allowed: { urls: readonly string[]; urlPrefixes: readonly string[]; addresses: readonly string[] },
): string[] {
  const found = linksIn(draft);
  const okUrl = (u: string) => {
    const bare = u.replace(/^https?:\/\//i, '').replace(/\/$/, '').toLowerCase();
    return (
      allowed.urls.some((a) => a.replace(/^https?:\/\//i, '').replace(/\/$/, '').toLowerCase() === bare) ||
      allowed.urlPrefixes.some((p) => u.toLowerCase().startsWith(p.toLowerCase()))
    );
  };
  const okAddress = (a: string) => allowed.addresses.some((x) => x.toLowerCase() === a);
  return [...found.urls.filter((u) => !okUrl(u)), ...found.addresses.filter((a) => !okAddress(a))];
}
