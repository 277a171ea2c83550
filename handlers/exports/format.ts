const formats = new Map<number, Intl.NumberFormat>()

/**
 * The one number format of reports and emails: thousands separators and exactly `decimals` decimals
 * (`1,204.5`, `12.0`, `45,678`), the same in the summary and in the table.
 */
export function formatNumber(value: number, decimals = 0): string {
  let format = formats.get(decimals)
  if (!format) {
    format = new Intl.NumberFormat('en-GB', {
      minimumFractionDigits: decimals,
      maximumFractionDigits: decimals,
    })
    formats.set(decimals, format)
  }
  return format.format(value)
}
