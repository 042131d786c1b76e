import Foundation

/// The local date and time `strftime_now` formats. Rendering takes it as a parameter, so a test (or a server
/// that wants reproducible prompts) fixes it; `TemplateDate.now()` reads the clock as Python's
/// `datetime.now()` does (local time).
public struct TemplateDate: Sendable, Hashable {
    public var year: Int
    public var month: Int
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        self.year = year; self.month = month; self.day = day
        self.hour = hour; self.minute = minute; self.second = second
    }

    public static func now() -> TemplateDate {
        let c = Calendar.current.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date())
        return TemplateDate(year: c.year ?? 1970, month: c.month ?? 1, day: c.day ?? 1,
                            hour: c.hour ?? 0, minute: c.minute ?? 0, second: c.second ?? 0)
    }

    private static let months = ["January", "February", "March", "April", "May", "June", "July", "August",
                                 "September", "October", "November", "December"]
    private static let weekdays = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

    private var isLeap: Bool { (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 }
    private var dayOfYear: Int {
        let lengths = [31, isLeap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return lengths.prefix(max(0, min(month - 1, 12))).reduce(0, +) + day
    }
    /// 0 = Monday (days since 1970-01-01, a Thursday).
    private var weekday: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return ((days % 7) + 7 + 3) % 7
    }

    /// C `strftime` for the common conversions (glibc's `-` flag drops the padding).
    func format(_ pattern: String, _ p: SourcePosition) throws(TemplateError) -> String {
        var out = ""
        var it = pattern.makeIterator()
        while let c = it.next() {
            guard c == "%" else { out.append(c); continue }
            var spec = it.next()
            let unpadded = spec == "-"
            if unpadded { spec = it.next() }
            func pad(_ v: Int, _ width: Int = 2) -> String {
                let s = String(v)
                return unpadded ? s : String(repeating: "0", count: max(0, width - s.count)) + s
            }
            let monthName = TemplateDate.months[max(0, min(month - 1, 11))]
            let dayName = TemplateDate.weekdays[weekday]
            switch spec {
            case "Y": out += String(year)
            case "y": out += pad(year % 100)
            case "m": out += pad(month)
            case "d": out += pad(day)
            case "e": out += unpadded ? String(day) : (day < 10 ? " \(day)" : String(day))
            case "H": out += pad(hour)
            case "I": out += pad(hour % 12 == 0 ? 12 : hour % 12)
            case "M": out += pad(minute)
            case "S": out += pad(second)
            case "p": out += hour < 12 ? "AM" : "PM"
            case "B": out += monthName
            case "b", "h": out += String(monthName.prefix(3))
            case "A": out += dayName
            case "a": out += String(dayName.prefix(3))
            case "j": out += pad(dayOfYear, 3)
            case "F": out += "\(year)-\(pad(month))-\(pad(day))"
            case "%": out += "%"
            default: throw .unsupported("strftime_now format '%\(spec.map(String.init) ?? "")' is not supported", p)
            }
        }
        return out
    }
}
